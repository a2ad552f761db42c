// TlsSocket: TLS over a TCP socket, with OpenSSL driven through a BIO pair
// of 1 MiB each way. Asio's ssl::stream moves one 16 KiB record per socket
// operation; here SSL_write fills the pair with as many records as fit and
// they leave in one socket write, and one socket read feeds many SSL_reads.
//
// Used by tcp.cpp's Connection on its strand (the socket's executor): one
// read and one write may be in flight at once, never two of a kind. Every
// handler runs on that executor, never inside the call that started it.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <climits>
#include <functional>
#include <string>
#include <vector>

namespace netqueue::detail {

class TlsSocket {
 public:
  using Done = std::function<void(asio::error_code)>;

  // `verify_host`: for a client, the name or IP address the server's
  // certificate must match (the context's trust store checks the chain).
  TlsSocket(asio::ip::tcp::socket socket, asio::ssl::context& context, bool server, const std::string& verify_host)
      : socket_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
    asio::error_code ignored;
    socket_.non_blocking(true, ignored);  // send_pending() writes what fits
    BIO* inner = nullptr;
    BIO_new_bio_pair(&inner, pair_size, &outer_, pair_size);
    SSL_set_bio(ssl_, inner, inner);
    SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_options(ssl_, SSL_OP_NO_RENEGOTIATION);
    if (server) {
      SSL_set_accept_state(ssl_);
      return;
    }
    SSL_set_connect_state(ssl_);
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
    asio::error_code not_ip;
    asio::ip::make_address(verify_host, not_ip);
    if (not_ip) {
      SSL_set_tlsext_host_name(ssl_, verify_host.c_str());  // SNI for names only
      SSL_set1_host(ssl_, verify_host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), verify_host.c_str());
    }
  }
  ~TlsSocket() {
    SSL_free(ssl_);  // frees the inner BIO
    BIO_free(outer_);
  }
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  asio::ip::tcp::socket& next_layer() noexcept { return socket_; }

  // Why the peer's certificate was refused, in OpenSSL's words ("unable to
  // get local issuer certificate", "hostname mismatch"); empty when it was
  // not (or there was none to check).
  std::string verify_error() const {
    const long result = SSL_get_verify_result(ssl_);
    return result == X509_V_OK ? std::string() : X509_verify_cert_error_string(result);
  }

  void async_handshake(Done done) {
    run([this] { return SSL_do_handshake(ssl_); }, [done](asio::error_code ec, int) { done(ec); });
  }

  // Sends close_notify (once the pair's pending output is out); does not wait
  // for the peer's.
  void async_shutdown(Done done) {
    SSL_shutdown(ssl_);
    ERR_clear_error();
    flush(std::move(done));
  }

  // Reads what is there (at least one byte) into `buffer`.
  template <class Handler>
  void async_read_some(asio::mutable_buffer buffer, Handler handler) {
    auto read = [this, buffer] { return SSL_read(ssl_, buffer.data(), clamp(buffer.size())); };
    run(
        read,
        [this, buffer, handler = std::move(handler)](asio::error_code ec, int n) mutable {
          if (ec) return handler(ec, std::size_t{0});
          // More records may be decrypted already: hand them over in the same go.
          std::size_t got = static_cast<std::size_t>(n);
          while (got < buffer.size()) {
            const int more = SSL_read(ssl_, static_cast<char*>(buffer.data()) + got, clamp(buffer.size() - got));
            if (more <= 0) break;
            got += static_cast<std::size_t>(more);
          }
          ERR_clear_error();
          handler(ec, got);
        },
        true);
  }

  // Writes all of `buffers` (which stay valid until the handler runs).
  template <class Handler>
  void async_write(const std::vector<asio::const_buffer>& buffers, Handler handler) {
    write_from(&buffers, 0, 0, std::move(handler));
  }

 private:
  static constexpr std::size_t pair_size = 1 << 20;
  static int clamp(std::size_t n) { return static_cast<int>(std::min<std::size_t>(n, INT_MAX)); }

  template <class Handler>
  void write_from(const std::vector<asio::const_buffer>* buffers, std::size_t index, std::size_t offset,
                  Handler handler) {
    while (index < buffers->size()) {
      const asio::const_buffer& b = (*buffers)[index];
      if (offset == b.size()) {
        ++index;
        offset = 0;
        continue;
      }
      const int n = SSL_write(ssl_, static_cast<const char*>(b.data()) + offset, clamp(b.size() - offset));
      if (n > 0) {
        offset += static_cast<std::size_t>(n);
        continue;
      }
      if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_WRITE) return fail_later(handler, failure(n));
      // The pair is full: send it, then go on encrypting.
      return flush([this, buffers, index, offset, handler = std::move(handler)](asio::error_code ec) mutable {
        if (ec) return handler(ec, std::size_t{0});
        write_from(buffers, index, offset, std::move(handler));
      });
    }
    flush([handler = std::move(handler)](asio::error_code ec) mutable { handler(ec, std::size_t{0}); });
  }

  // Calls `op` (an SSL call) until it makes progress, moving bytes between
  // the socket and the BIO pair as OpenSSL asks; then `done(ec, result)`.
  // A handshake waits until its output went out. A read never waits for
  // output (that is the write's business, and a read stuck behind a write
  // while both peers write would deadlock): it only starts sending it.
  template <class Op, class Then>
  void run(Op op, Then done, bool reading = false) {
    const int r = op();
    const int error = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
    auto again = [this, op, done, reading](asio::error_code ec) mutable {
      if (ec) return done(ec, 0);
      run(op, done, reading);
    };
    switch (error) {
      case SSL_ERROR_NONE:
        if (!reading) return flush([done, r](asio::error_code ec) mutable { done(ec, r); });
        kick_flush(done);
        return asio::post(socket_.get_executor(), [done, r]() mutable { done({}, r); });
      case SSL_ERROR_WANT_READ:
        if (reading) {
          kick_flush(done);
          return fill(std::move(again));
        }
        return flush([this, again](asio::error_code ec) mutable {
          if (ec) return again(ec);
          fill(std::move(again));
        });
      case SSL_ERROR_WANT_WRITE: return flush(std::move(again));
      default: {
        const asio::error_code ec = error == SSL_ERROR_ZERO_RETURN ? asio::error::eof : failure(r);
        // Send what OpenSSL queued (an alert tells the peer why), then report.
        return flush([done, ec](asio::error_code) mutable { done(ec, 0); });
      }
    }
  }

  // Starts sending what OpenSSL produced, without waiting for it. The write
  // holds only `this`: a copy of the read's handler `owner` (never called)
  // goes with it, so that what owns this socket (the connection, which its
  // handlers keep alive) cannot be destroyed while the write is in flight.
  template <class Owner>
  void kick_flush(const Owner& owner) {
    if (!flushing_ && BIO_ctrl_pending(outer_) > 0) flush([owner](asio::error_code) {});
  }

  asio::error_code failure(int r) {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e) return {static_cast<int>(e), asio::error::get_ssl_category()};
    if (r == 0) return asio::error::eof;  // the peer closed without close_notify
    return asio::error::connection_aborted;
  }

  // Reports `ec` from the executor, not from inside the call that started the operation.
  template <class Handler>
  void fail_later(Handler& handler, asio::error_code ec) {
    asio::post(socket_.get_executor(), [handler = std::move(handler), ec]() mutable { handler(ec, std::size_t{0}); });
  }

  // Reads from the socket into the pair (what one read gives).
  void fill(Done then) {
    char* space = nullptr;
    const int room = BIO_nwrite0(outer_, &space);
    if (room <= 0) return asio::post(socket_.get_executor(), [then] { then({}); });
    socket_.async_read_some(asio::buffer(space, static_cast<std::size_t>(room)),
                            [this, then](asio::error_code ec, std::size_t n) {
                              char* unused = nullptr;
                              if (n > 0) BIO_nwrite(outer_, &unused, static_cast<int>(n));
                              then(n > 0 ? asio::error_code{} : ec);
                            });
  }

  // Sends everything the pair holds; one flush at a time (a read and a write
  // may both need one), the others wait for it.
  void flush(Done then) {
    waiting_.push_back(std::move(then));
    if (flushing_) return;
    flushing_ = true;
    send_pending();
  }

  // Writes what fits; when the socket is full, waits until it has room
  // (POLLOUT comes once a third of the send buffer is free) rather than
  // retrying each partial write at once as asio::async_write does, which sent
  // a 1 MiB pair in 64 KiB pieces (bench/README.md).
  void send_pending() {
    for (;;) {
      char* data = nullptr;
      const int n = BIO_nread0(outer_, &data);
      if (n <= 0) return asio::post(socket_.get_executor(), [this] { flushed({}); });
      asio::error_code ec;
      const std::size_t written = socket_.write_some(asio::buffer(data, static_cast<std::size_t>(n)), ec);
      char* unused = nullptr;
      if (written > 0) BIO_nread(outer_, &unused, static_cast<int>(written));
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        return socket_.async_wait(asio::ip::tcp::socket::wait_write, [this](asio::error_code ec) {
          if (ec) return flushed(ec);
          send_pending();
        });
      }
      if (ec) return asio::post(socket_.get_executor(), [this, ec] { flushed(ec); });
    }
  }

  void flushed(asio::error_code ec) {
    flushing_ = false;
    std::vector<Done> waiting;
    waiting.swap(waiting_);
    for (Done& d : waiting) d(ec);
  }

  asio::ip::tcp::socket socket_;
  SSL* ssl_;
  BIO* outer_ = nullptr;  // our end of the pair: ciphertext in and out
  bool flushing_ = false;
  std::vector<Done> waiting_;
};

}  // namespace netqueue::detail
