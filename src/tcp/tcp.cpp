// TCP transport: moves pieces of bytes between sockets and sessions, nothing
// more. One strand per connection; one read and one write in flight at most;
// writes gather straight from the batch the session hands out.
#include "tcp/tcp.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#ifdef NETQUEUE_WITH_TLS
#include "tcp/tls_socket.hpp"
#endif

#include "netqueue/error.hpp"

namespace netqueue::detail {
namespace {

using asio::ip::tcp;
// Sockets are made on a strand of their own, so their executor is the strand.
using Strand = asio::any_io_executor;

tcp::socket& lowest(tcp::socket& s) { return s; }
#ifdef NETQUEUE_WITH_TLS
tcp::socket& lowest(TlsSocket& s) { return s.next_layer(); }
#endif

std::string endpoint_text(const tcp::socket& s) {
  asio::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown peer";
  return (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) + ":" +
         std::to_string(ep.port());
}

// One connection: a socket (plain or TLS) driven on its strand for one session.
template <class Socket>
class Connection final : public Link, public std::enable_shared_from_this<Connection<Socket>> {
  static constexpr bool plain = std::is_same_v<Socket, tcp::socket>;

 public:
  template <class... SocketArgs>
  Connection(Strand strand, SocketArgs&&... args)
      : socket_(std::forward<SocketArgs>(args)...), strand_(std::move(strand)), remote_(endpoint_text(lowest(socket_))) {
    asio::error_code ignored;
    if constexpr (plain) socket_.non_blocking(true, ignored);  // write_now() needs would_block
  }

  Socket& socket() { return socket_; }
  const Strand& strand() const { return strand_; }
  // Closes the socket before a session exists (a handshake that takes too long). On the strand.
  void abort_socket() {
    asio::error_code ignored;
    lowest(socket_).close(ignored);
  }

  // Starts moving bytes for `session` (on the strand).
  // `peer_timeout` (0: none): see watch_peer().
  void start(std::shared_ptr<Pipe> session, std::chrono::milliseconds peer_timeout) {
    asio::dispatch(strand_, [self = this->shared_from_this(), session = std::move(session), peer_timeout]() mutable {
      self->session_ = std::move(session);
      self->peer_timeout_ = peer_timeout;
      self->do_read();
      self->do_write();
      if (peer_timeout.count() > 0) self->watch_peer();
    });
  }

  void wake_send() override {
    asio::post(strand_, [self = this->shared_from_this()] {
      if (!self->writing_ && !self->closing_ && self->session_) self->do_write();
    });
  }
  void wake_receive() override {
    asio::post(strand_, [self = this->shared_from_this()] {
      if (!self->reading_ && !self->closing_ && self->session_) self->do_read();
    });
  }
  void close(bool graceful) override {
    asio::post(strand_, [self = this->shared_from_this(), graceful] { self->begin_close(graceful, {}); });
  }
  std::string remote() const override { return remote_; }

 private:
  void do_read() {
    if (!session_->receiving()) return;  // paused: wake_receive resumes
    if constexpr (plain) set_low_watermark(session_->receive_expected());
    reading_ = true;
    auto buf = session_->receive_buffer();
    socket_.async_read_some(
        asio::buffer(buf.data(), buf.size()),
        asio::bind_executor(strand_, [self = this->shared_from_this()](asio::error_code ec, std::size_t n) {
          self->reading_ = false;
          if (n > 0 && !self->closing_) self->session_->received(n);
          if (ec) return self->on_error(ec);
          if (self->closing_) return self->finish();
          self->do_read();
        }));
  }

  void do_write() {
    // Batches that go out at once are sent in this loop; a few at most, so
    // that a busy sender does not keep the strand from its reads.
    for (int round = 0; round < 16; ++round) {
      auto batch = session_->next_batch();
      if (batch.empty()) return finish_if_closing();
      buffers_.clear();
      for (const auto& b : batch) buffers_.emplace_back(b.data(), b.size());
      writing_ = true;
      if constexpr (!plain) {
        return socket_.async_write(buffers_,
                                   [self = this->shared_from_this()](asio::error_code ec, std::size_t) { self->wrote(ec); });
      } else if (!write_now()) {
        return;  // the rest goes when the socket has room (wrote() follows)
      }
      writing_ = false;
      session_->sent();
      if (closing_) return finish();
    }
    wake_send();
  }

  // A batch went out (or failed); then the next one.
  void wrote(const asio::error_code& ec) {
    writing_ = false;
    // Once the kernel gave up on the connection a write finds only EPIPE; the
    // read in flight then ends at once with the reason (ETIMEDOUT when the
    // peer stopped answering, ECONNRESET), and reports it.
    if (ec == asio::error::broken_pipe && reading_ && !closing_) return;
    if (ec) return on_error(ec);
    session_->sent();
    if (closing_) return finish();
    do_write();
  }

  // Plain TCP: writes what fits now. When the socket is full, it waits until
  // the kernel has room again (POLLOUT: a third of the send buffer) instead of
  // retrying at once, so a large batch leaves in a few large writes rather
  // than in many small ones. True when the whole batch went out now.
  bool write_now() {
    while (!buffers_.empty()) {
      asio::error_code ec;
      std::size_t n = socket_.write_some(buffers_, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        socket_.async_wait(tcp::socket::wait_write,
                           asio::bind_executor(strand_, [self = this->shared_from_this()](asio::error_code ec) {
                             if (ec) return self->wrote(ec);
                             if (self->write_now()) self->wrote({});
                           }));
        return false;
      }
      if (ec) {
        wrote(ec);
        return false;
      }
      // Drop what went out from the front of the gather list.
      auto it = buffers_.begin();
      for (; it != buffers_.end() && n >= it->size(); ++it) n -= it->size();
      buffers_.erase(buffers_.begin(), it);
      if (!buffers_.empty()) buffers_.front() += n;
    }
    return true;
  }

  // Inside a large frame, wake up only once a good share of it is there:
  // fewer wake-ups and reads per message (Linux honours SO_RCVLOWAT in poll).
  // Only bytes known to be coming are waited for, so this cannot stall. Plain
  // TCP only: under TLS the socket's byte count is not the frame's (records
  // buffered by the TLS layer would make the wait too long).
  void set_low_watermark(std::size_t expected) {
    constexpr std::size_t worth = 128 * 1024, most = 256 * 1024;  // measured: bench/README.md
    const int want = expected >= worth ? static_cast<int>(std::min(expected, most)) : 1;
    if (want == low_watermark_) return;
    low_watermark_ = want;
    asio::error_code ignored;
    lowest(socket_).set_option(asio::socket_base::receive_low_watermark(want), ignored);
  }

  void on_error(const asio::error_code& ec) {
    if (closing_) return finish();  // whatever the error, we are closing already
    // The cause goes with the end (core/transport.hpp): none for an orderly EOF.
    // Asio's system category compares with no std::errc: report the errno in
    // the standard one.
    if (ec != asio::error::eof)
      cause_ = ec.category() == asio::system_category() ? std::error_code(ec.value(), std::system_category()) : ec;
    const bool dropped = ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
    if (ec == asio::error::timed_out) {
      begin_close(false, "no answer from " + remote_ + " within connection.peer_timeout (" + ec.message() + ")");
    } else {
      begin_close(false, dropped ? "the connection was closed by " + remote_ + (cause_ ? " (" + ec.message() + ")" : "")
                                 : "I/O error with " + remote_ + ": " + ec.message());
    }
  }

  void finish_if_closing() {
    if (closing_) finish();
  }

  void begin_close(bool graceful, const std::string& error) {
    if (closing_) return;
    closing_ = true;
    error_ = error;
    if constexpr (!plain) {
      if (graceful && !writing_) {
        // TLS says it is done (close_notify) before the FIN; no need to wait for the peer's.
        shutting_down_ = true;
        return socket_.async_shutdown([self = this->shared_from_this()](asio::error_code) {
          self->shutting_down_ = false;
          self->close_socket(true);
        });
      }
    }
    close_socket(graceful);
  }

  // A peer that stops acknowledging what we sent (its host vanished while
  // data was in flight, or while its window was shut) is cut once no ACK has
  // come for peer_timeout while data waited. TCP_USER_TIMEOUT would do this in
  // the kernel, but it also cuts a healthy peer whose window stays shut
  // longer than the timeout (one that does not read: our own receive bound
  // makes such peers), although that peer answers every probe. An idle
  // connection is the kernel's keepalive's (set in watch_socket()).
  void watch_peer() {
    const auto every = std::clamp<std::chrono::milliseconds>(peer_timeout_ / 4, std::chrono::milliseconds(250),
                                                             std::chrono::seconds(5));
    watchdog_.expires_after(every);
    watchdog_.async_wait(asio::bind_executor(strand_, [self = this->shared_from_this()](asio::error_code ec) {
      if (ec || self->closing_) return;
      if (self->peer_stopped_answering()) return self->on_error(asio::error::timed_out);
      self->watch_peer();
    }));
  }

  bool peer_stopped_answering() {
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(lowest(socket_).native_handle(), IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return false;
    const auto now = std::chrono::steady_clock::now();
    // Unacknowledged data, or window probes: something waits for the peer.
    if (info.tcpi_unacked == 0 && info.tcpi_probes == 0) {
      waiting_since_.reset();
      return false;
    }
    if (!waiting_since_) waiting_since_ = now;
    return now - *waiting_since_ >= peer_timeout_ &&
           std::chrono::milliseconds(info.tcpi_last_ack_recv) >= peer_timeout_;
  }

  void close_socket(bool graceful) {
    asio::error_code ignored;
    watchdog_.cancel();
    if (graceful) lowest(socket_).shutdown(tcp::socket::shutdown_send, ignored);  // FIN after what was written
    lowest(socket_).close(ignored);  // cancels the read (and a write still in flight)
    finish();
  }

  // Reports the end once nothing is in flight: the session's buffers are free then.
  void finish() {
    if (!closing_ || reading_ || writing_ || shutting_down_ || !session_) return;
    auto session = std::move(session_);
    session->detached(LinkEnd::lost, error_, cause_);
  }

  Socket socket_;
  Strand strand_;
  std::string remote_;
  std::shared_ptr<Pipe> session_;
  std::vector<asio::const_buffer> buffers_;
  bool reading_ = false, writing_ = false, closing_ = false, shutting_down_ = false;
  int low_watermark_ = 1;
  std::string error_;
  std::error_code cause_;
  std::chrono::milliseconds peer_timeout_{0};
  asio::steady_timer watchdog_{strand_};
  std::optional<std::chrono::steady_clock::time_point> waiting_since_;  // since when data waits for the peer
};

class TcpTransport final : public Transport {
 public:
  TcpTransport(Purpose purpose, const Options& options, Hub& hub)
      : purpose_(purpose),
        options_(options),
        hub_(hub),
        io_(static_cast<int>(options.workers)),
        work_(asio::make_work_guard(io_)),
        acceptor_(io_),
        resolver_(io_),
        retry_(io_),
        port_(static_cast<std::uint16_t>(options.netloc.port)) {
#ifdef NETQUEUE_WITH_TLS
    if (options.security.active()) make_tls_context();
#endif
  }
  ~TcpTransport() override { stop(); }

  void start() override {
    if (purpose_ == Purpose::server) {
      listen();
    } else {
      connect_deadline_ = std::chrono::steady_clock::now() + options_.connection.connect_timeout;
      asio::post(io_, [this] { connect(); });
    }
    for (unsigned i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  std::uint16_t port() const override { return port_; }

  void stop_accepting() override {
    asio::post(io_, [this] {
      stopping_ = true;
      asio::error_code ignored;
      acceptor_.close(ignored);
      retry_.cancel();
      resolver_.cancel();
    });
  }

  void stop() override {
    if (threads_.empty()) return;
    stop_accepting();
    {
      std::lock_guard lock(links_mutex_);
      for (auto& weak : links_)
        if (auto link = weak.lock()) link->close(false);
    }
    work_.reset();
    // Closing aborts everything, so the threads run out of work; don't wait forever on a stuck peer.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!io_.stopped() && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    io_.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  // ---- server ----
  void listen() {
    try {
      tcp::resolver resolver(io_);
      auto results = resolver.resolve(options_.netloc.host, std::to_string(options_.netloc.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service);
      const tcp::endpoint ep = *results.begin();
      acceptor_.open(ep.protocol());
      acceptor_.set_option(tcp::acceptor::reuse_address(true));
      acceptor_.bind(ep);
      acceptor_.listen();
      port_ = acceptor_.local_endpoint().port();
    } catch (const std::system_error& e) {
      throw Error(errc::transport, "cannot listen on " + options_.netloc.host + ":" +
                                       std::to_string(options_.netloc.port) + ": " + e.code().message());
    }
    accept();
  }

  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](asio::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || stopping_) return;
      if (!ec) on_socket(std::move(socket));
      accept();
    });
  }

  // ---- client ----
  void connect() {
    if (stopping_) return;
    resolver_.async_resolve(options_.netloc.host, std::to_string(options_.netloc.port), tcp::resolver::numeric_service,
                            [this](asio::error_code ec, tcp::resolver::results_type r) {
                              if (ec) return retry(ec.message());
                              auto socket = std::make_shared<tcp::socket>(asio::make_strand(io_));
                              asio::async_connect(*socket, r,
                                                  [this, socket](asio::error_code ec, const tcp::endpoint&) {
                                                    if (ec) return retry(ec.message());
                                                    on_socket(std::move(*socket));
                                                  });
                            });
  }

  void retry(const std::string& why) {
    if (stopping_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now >= connect_deadline_) {
      const auto secs = std::chrono::duration<double>(options_.connection.connect_timeout).count();
      return hub_.transport_failed(errc::connect_failed, "could not connect to " + options_.netloc.host + ":" +
                                 std::to_string(options_.netloc.port) + " within " + std::to_string(secs).substr(0, 5) +
                                 " s: " + why);
    }
    // Back off (doubling up to half a second), but try once more at the deadline.
    retry_.expires_after(std::min<std::chrono::steady_clock::duration>(backoff_, connect_deadline_ - now));
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(500));
    retry_.async_wait([this](asio::error_code ec) {
      if (!ec) connect();
    });
  }

  // ---- both ----
  // Dead-peer detection (Options::connection.keepalive, peer_timeout), idle
  // side: after `keepalive` of silence the kernel probes, and ends the
  // connection with ETIMEDOUT when four probes, spread over the rest of
  // `peer_timeout`, go unanswered. The busy side is Connection::watch_peer().
  void watch_socket(tcp::socket& socket) {
    const auto& c = options_.connection;
    if (c.peer_timeout.count() == 0) return;
    auto seconds = [](std::chrono::milliseconds d) {
      return static_cast<int>(std::min<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count(), 32767));
    };
    const int fd = socket.native_handle();
    const int on = 1;
    const int idle = seconds(c.keepalive);
    const int interval = std::max(1, seconds(c.peer_timeout - c.keepalive) / 4);
    const int probes = 4;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
  }

  // A connected socket (accepted, or ours): the TLS handshake first when
  // configured, then a session.
  void on_socket(tcp::socket socket) {
    asio::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    watch_socket(socket);
    Strand strand = socket.get_executor();
#ifdef NETQUEUE_WITH_TLS
    if (tls_) {
      const bool server = purpose_ == Purpose::server;
      auto c = track(std::make_shared<Connection<TlsSocket>>(strand, std::move(socket), *tls_, server, options_.netloc.host));
      const auto deadline =
          server ? std::chrono::steady_clock::now() + options_.connection.connect_timeout : connect_deadline_;
      handshake(c, deadline, [this, c, server](asio::error_code ec, bool late) {
        if (!ec) return open(c);
        std::string why =
            "TLS handshake with " + c->remote() +
            (late ? " did not complete within connection.connect_timeout" : " failed: " + tls_reason(ec));
        if (const std::string refused = c->socket().verify_error(); !late && !refused.empty())
          why += ": the peer's certificate: " + refused;
        // A server logs and keeps serving others; a client has nowhere else to go.
        if (server) return hub_.log(LogLevel::error, why);
        hub_.transport_failed(errc::connect_failed, why);
      });
      return;
    }
#endif
    open(track(std::make_shared<Connection<tcp::socket>>(strand, std::move(socket))));
  }

  template <class Socket>
  void open(const std::shared_ptr<Connection<Socket>>& c) {
    auto session = hub_.attach(c);
    if (!session) return c->close(false);  // the communicator is closing
    c->start(std::move(session), options_.connection.peer_timeout);
  }

  // Remembers a connection so that stop() can abort it.
  template <class C>
  std::shared_ptr<C> track(std::shared_ptr<C> c) {
    std::lock_guard lock(links_mutex_);
    std::erase_if(links_, [](const std::weak_ptr<Link>& w) { return w.expired(); });
    links_.push_back(c);
    return c;
  }

#ifdef NETQUEUE_WITH_TLS
  // The TLS handshake, bounded by `deadline`: a silent peer must not hold a
  // connection (or a client's connect) forever. `done(ec, late)` runs on the strand.
  template <class Done>
  void handshake(const std::shared_ptr<Connection<TlsSocket>>& c, std::chrono::steady_clock::time_point deadline,
                 Done done) {
    auto timer = std::make_shared<asio::steady_timer>(c->strand(), deadline);
    timer->async_wait([c](asio::error_code ec) {
      if (!ec) c->abort_socket();
    });
    c->socket().async_handshake([timer, done](asio::error_code ec) {
      const bool late = ec && timer->expiry() <= std::chrono::steady_clock::now();
      timer->cancel();
      done(ec, late);
    });
  }

  static std::string tls_reason(const asio::error_code& ec) {
    std::string reason = ec.message();
    if (ec.category() == asio::error::get_ssl_category()) {
      char buf[256];
      ERR_error_string_n(static_cast<unsigned long>(ec.value()), buf, sizeof buf);
      reason += " (" + std::string(buf) + ")";
    }
    return reason;
  }

  void make_tls_context() {
    const bool server = purpose_ == Purpose::server;
    const TlsFiles files = tls_files(options_, server);
    tls_.emplace(server ? asio::ssl::context::tls_server : asio::ssl::context::tls_client);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    const char* option = "security.certificate";
    try {
      if (files.certificate) {
        tls_->use_certificate_chain_file(*files.certificate);
        option = "security.key";
        tls_->use_private_key_file(*files.key, asio::ssl::context::pem);
      }
      option = options_.security.trust ? "security.trust" : "security.certificate";
      if (files.trust) {
        tls_->load_verify_file(*files.trust);
        // A server with a trust chain wants a client certificate it verifies.
        if (server) tls_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
      } else if (!server) {
        tls_->set_default_verify_paths();
      }
    } catch (const std::system_error& e) {
      throw OptionError(option, e.code().message());
    }
    if (options_.security.partial_chain)
      X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(tls_->native_handle()), X509_V_FLAG_PARTIAL_CHAIN);
  }
  std::optional<asio::ssl::context> tls_;
#endif

  const Purpose purpose_;
  const Options& options_;
  Hub& hub_;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;
  tcp::resolver resolver_;
  asio::steady_timer retry_;
  std::chrono::milliseconds backoff_{10};
  std::chrono::steady_clock::time_point connect_deadline_;
  std::atomic<bool> stopping_{false};
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex links_mutex_;
  std::vector<std::weak_ptr<Link>> links_;
};

std::unique_ptr<Transport> make(Purpose purpose, const Options& options, Hub& hub) {
  return std::make_unique<TcpTransport>(purpose, options, hub);
}

void validate(const Options& o, Purpose purpose) {
  require(purpose == Purpose::server || o.netloc.port != 0, "netloc.port",
          "a client needs the server's port (0 is only for servers)");
#ifndef NETQUEUE_WITH_TLS
  require(!o.security.active(), "security", "this build has no TLS (NETQUEUE_WITH_TLS=OFF)");
#endif
  require_tls_files(o, purpose == Purpose::server);
}

}  // namespace

const TransportInfo tcp_transport{Protocol::tcp, &make, &validate, Capabilities{}};

}  // namespace netqueue::detail
