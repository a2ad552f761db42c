// gRPC transport: moves pieces of the session's byte stream as the raw-bytes
// messages of one bidirectional streaming method, /grpc/comm, through gRPC's
// generic callback API. Nothing here knows frames or hellos.
//
// One call is one link. Pieces are taken from the session as owned chunks and
// handed to gRPC as slices that reference them (no copy); received slices are
// handed up as chunks that keep the slice alive (no copy). gRPC allows one
// write and one read in flight per call, so a call has at most one of each:
// the next piece is taken when the previous write completed, and that
// completion is the acknowledgement that resolves the puts.
//
// gRPC calls its reactors back on its own threads; every reaction is posted
// to the link's executor (Hub::make_executor), which is the strand: the Pipe
// is only ever called there, and so is every gRPC operation we start, which
// keeps "no operation after the call is done" easy to see.
//
// Server: a call carries the session keyed by the client's connection
// (ServerContext::peer()). When the client half-closes (net-queue's Python
// client does after every exchange), what is queued for it is flushed, then
// the call ends with status OK and the link detaches as resumable: the
// session waits for the next call of that connection. A netqueue client never
// half-closes before its goodbye, so the server pushes on its call as soon as
// data is queued.
#include "grpc/grpc.hpp"

#include <grpcpp/alarm.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <condition_variable>
#include <fstream>
#include <future>
#include <functional>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "netqueue/error.hpp"

namespace netqueue::detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* method_path = "/grpc/comm";

// net-queue's default piece size (its transport_size).
constexpr std::size_t net_queue_piece_size = 16 * MiB;

// gRPC's own default is 4 MiB; net-queue sends pieces of up to 16 MiB by
// default, and our peers send up to their max_size.
int receive_limit(const Options& o) {
  const std::size_t limit = std::max<std::size_t>(net_queue_piece_size, o.connection.max_size);
  return static_cast<int>(std::min<std::size_t>(limit, INT_MAX));
}

// A peer that stops answering (its host vanished: no FIN, no RST) is found by
// HTTP/2 pings (Options::connection.keepalive, peer_timeout): one after
// `keepalive` without traffic, answered within the rest of `peer_timeout` or
// the connection and its calls end. Both sides ping, and a server accepts
// pings every second without data (gRPC's default, 5 minutes, would call a
// client's pings too many and send GOAWAY). A healthy idle peer answers pings
// and is never cut.
struct Keepalive {
  int time_ms = INT_MAX;  // gRPC's "never"
  int timeout_ms = 20'000;
};
Keepalive keepalive_of(const Options& o) {
  const auto& c = o.connection;
  if (c.peer_timeout.count() == 0) return {};
  auto ms = [](std::chrono::milliseconds d) { return static_cast<int>(std::min<std::int64_t>(d.count(), INT_MAX)); };
  return {ms(c.keepalive), ms(c.peer_timeout - c.keepalive)};
}
constexpr int min_ping_interval_ms = 1'000;

// HTTP/2 flow control: fixed windows, not BDP probing. With probing on
// (gRPC's default) the windows grow until a receiver buffers 150-200 MB and
// 2 MiB messages move at 2.3 Gbit/s; without, 45-55 MB at 4-5.6 Gbit/s sync
// and 8.7-9.8 async (bench/README.md).
constexpr int bdp_probe = 0;

// The largest gRPC message we send: a piece (connection.max_size) goes out as
// messages of at most this size. 1 MiB messages moved 2 MiB netqueue
// messages at 7.2-9.4 Gbit/s sync where 4 MiB ones (one per piece) moved
// 4.9-6.0, with less memory (bench/README.md).
constexpr std::size_t grpc_message_size = 1 * MiB;

std::string read_text(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw OptionError(option, "cannot read '" + path + "'");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// "host:port", with an IPv6 literal in brackets, as gRPC targets and listening addresses want it.
std::string address_of(const std::string& host, std::uint32_t port) {
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string status_text(const grpc::Status& s) {
  static const char* const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  const auto code = static_cast<unsigned>(s.error_code());
  std::string text = code < std::size(names) ? names[code] : "status " + std::to_string(code);
  if (!s.error_message().empty()) text += ": " + s.error_message();
  return text;
}

// gRPC owns a sent slice until the last reference goes (on any of its
// threads); the slice's user data is a copy of the chunk, which keeps the
// memory alive until then.
void release_chunk(void* chunk) { delete static_cast<Chunk*>(chunk); }

// Counts the links a transport has attached and not yet seen detach, so that
// stop() can wait for the last one: after stop() nothing may call the core.
class LinkCount {
 public:
  void add() {
    std::lock_guard lock(mutex_);
    ++live_;
  }
  void remove() {
    std::lock_guard lock(mutex_);
    if (--live_ == 0) zero_.notify_all();
  }
  void wait_zero() {
    std::unique_lock lock(mutex_);
    zero_.wait(lock, [&] { return live_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable zero_;
  int live_ = 0;
};

// What the client and the server side of a call share: the piece pump and the
// receive loop, on the link's executor. The subclass issues the gRPC operations.
class CallLink : public Link, public std::enable_shared_from_this<CallLink> {
 public:
  CallLink(std::shared_ptr<Executor> executor, std::string remote, LinkCount& count)
      : executor_(std::move(executor)), remote_(std::move(remote)), count_(count) {}

  void wake_send() override {
    post([](CallLink& c) { c.pump(); });
  }
  void wake_receive() override {
    post([](CallLink& c) { c.read_more(); });
  }
  void close(bool graceful) override {
    post([graceful](CallLink& c) { c.begin_close(graceful, {}); });
  }
  std::string remote() const override { return remote_; }

 protected:
  template <class F>
  void post(F f) {
    executor_->post([self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }

  // ---- gRPC operations, issued on the executor only ----
  virtual void issue_read(grpc::ByteBuffer* into) = 0;
  virtual void issue_write(const grpc::ByteBuffer* piece) = 0;
  // Whether operations may still be issued on the call.
  virtual bool call_open() const = 0;

  // ---- what differs, on the executor ----
  // The read side ended (ok=false): a half-close, the end of the call, or a failure.
  virtual void on_read_end() = 0;
  // Everything queued went out while closing gracefully.
  virtual void on_flushed() = 0;
  // A write failed: the call is broken.
  virtual void on_write_failed() = 0;
  // A write completed (whatever its outcome) and was dealt with.
  virtual void after_write() = 0;
  // Ends the link: graceful after a flush, else at once with `reason`.
  virtual void begin_close(bool graceful, const std::string& reason) = 0;

  // ---- gRPC threads: the reactions, posted ----
  void read_done(bool ok) {
    post([ok](CallLink& c) { c.on_read(ok); });
  }
  void write_done(bool ok) {
    post([ok](CallLink& c) { c.on_written(ok); });
  }

  // ---- executor ----
  void begin(std::shared_ptr<Pipe> pipe) {
    pipe_ = std::move(pipe);
    read_more();
    pump();
  }

  // Keeps one read in flight while the session receives; a closing link
  // reads regardless (to learn the end of the call), dropping what comes.
  void read_more() {
    if (reading_ || read_ended_ || !call_open()) return;
    if (!aborting_ && (!pipe_ || !pipe_->receiving())) return;  // paused: wake_receive resumes
    reading_ = true;
    issue_read(&in_);
  }

  // Takes the next piece when no write is in flight, and writes it as gRPC
  // messages of at most grpc_message_size.
  void pump() {
    if (!pipe_ || writing_ || aborting_ || write_ended_ || !call_open()) return;
    if (closing_ && closing_budget_ == 0 && rest_.empty()) return on_flushed();  // the rest goes on the next call
    Stream piece = rest_.empty() ? pipe_->take_piece() : std::move(rest_);
    if (piece.empty()) {
      if (closing_) on_flushed();
      return;  // wake_send follows when more is queued
    }
    if (piece.size() > grpc_message_size) {
      Stream head = piece.read(grpc_message_size);  // slices: nothing is copied
      rest_ = std::move(piece);
      piece = std::move(head);
    }
    std::vector<grpc::Slice> slices;
    slices.reserve(piece.chunks());
    for (const Chunk& c : piece) {
      if (c.empty()) continue;
      auto* keep = new Chunk(c);
      slices.emplace_back(const_cast<std::byte*>(keep->data()), keep->size(), &release_chunk, keep);
    }
    out_ = grpc::ByteBuffer(slices.data(), slices.size());  // references the slices
    in_flight_ = piece.size();
    writing_ = true;
    carried_ = true;
    if (closing_) closing_budget_ -= std::min<std::uint64_t>(closing_budget_, piece.size());
    issue_write(&out_);
  }

  void on_read(bool ok) {
    reading_ = false;
    if (!ok) {
      read_ended_ = true;
      in_.Clear();
      return on_read_end();
    }
    if (pipe_ && !aborting_) {
      std::vector<grpc::Slice> slices;
      if (in_.Dump(&slices).ok()) {
        for (grpc::Slice& s : slices) {
          if (s.size() == 0) continue;
          carried_ = true;
          // The chunk's owner is the slice (moved to the heap first: a small
          // slice keeps its bytes inline, so its address must not change).
          auto keep = std::make_shared<const grpc::Slice>(std::move(s));
          pipe_->received_piece(
              Chunk::adopt(keep, {reinterpret_cast<const std::byte*>(keep->begin()), keep->size()}));
        }
      }
    }
    in_.Clear();
    read_more();
  }

  void on_written(bool ok) {
    writing_ = false;
    out_.Clear();
    const std::uint64_t n = std::exchange(in_flight_, 0);
    if (!ok) {
      write_ended_ = true;  // bytes may be lost: not acknowledged
      if (!aborting_) on_write_failed();
    } else if (pipe_ && !aborting_) {
      pipe_->acknowledged(n);
      pump();
    }
    after_write();
  }

  // Reports the end of the link to the session, once.
  void report_detached() {
    if (!pipe_) return;
    auto pipe = std::move(pipe_);
    pipe->detached(aborting_ ? LinkEnd::lost : LinkEnd::resumable, reason_, {});
  }

  // The transport's count of live calls: this one is over (exactly once).
  void release() {
    if (released_) return;
    released_ = true;
    count_.remove();
  }

  const std::shared_ptr<Executor> executor_;
  const std::string remote_;
  LinkCount& count_;
  std::shared_ptr<Pipe> pipe_;
  grpc::ByteBuffer in_, out_;
  Stream rest_;  // of the piece taken last, what its next messages carry
  std::uint64_t in_flight_ = 0;  // bytes of the write in flight
  bool reading_ = false, writing_ = false;
  bool read_ended_ = false, write_ended_ = false;
  bool closing_ = false;   // ending: flush, then end the call
  bool aborting_ = false;  // ending at once: nothing more is sent or handed up
  bool released_ = false;
  bool carried_ = false;  // a byte went out or came in on this call
  // Bytes a closing call still sends before it ends (a server's call after a
  // polling client's half-close); what is left waits for the next call.
  std::uint64_t closing_budget_ = UINT64_MAX;
  std::string reason_;
};

// ---------------------------------------------------------------- server

class GrpcServer;

// One call on the server: the reactor gRPC drives, and the link of one session.
class ServerCall final : public CallLink, public grpc::ServerGenericBidiReactor {
 public:
  ServerCall(std::shared_ptr<Executor> executor, grpc::GenericCallbackServerContext* context, Hub& hub,
             LinkCount& count, int limit)
      : CallLink(std::move(executor), context->peer(), count),
        context_(context),
        hub_(hub),
        cancelled_reason_("the call from " + remote_ +
                          " was cancelled (client gone, call broken, or a message over the receive limit of " +
                          std::to_string(limit) + " bytes)") {}

  // Takes ownership of itself until gRPC says the call is done.
  static void start(std::shared_ptr<ServerCall> call) {
    call->self_ = call;
    call->post([](CallLink& c) { static_cast<ServerCall&>(c).open(); });
  }

  void OnReadDone(bool ok) override { read_done(ok); }
  void OnWriteDone(bool ok) override { write_done(ok); }
  void OnCancel() override {
    cancelled_.store(true, std::memory_order_release);
    post([](CallLink& c) {
      auto& s = static_cast<ServerCall&>(c);
      if (!s.finished_) return s.begin_close(false, s.cancelled_reason_);
      // The end of the read side looked like a half-close, and the link
      // detached as resumable; the call was in fact cut (a message over the
      // receive limit: a piece of the stream is lost), so the session ends.
      if (s.detached_resumable_) s.end_detached_session();
    });
  }
  void OnDone() override {
    // Every operation is complete: whatever was not reported yet is now; a
    // call cut after it detached as resumable ends its session (OnCancel).
    const bool cut = context_->IsCancelled();
    post([cut](CallLink& c) {
      auto& s = static_cast<ServerCall&>(c);
      if (cut && s.detached_resumable_) s.end_detached_session();
      s.report_detached();
      s.release();
    });
    self_.reset();
  }

 private:
  void issue_read(grpc::ByteBuffer* into) override { StartRead(into); }
  void issue_write(const grpc::ByteBuffer* piece) override { StartWrite(piece); }
  bool call_open() const override { return !finished_; }

  void open() {
    // The key is the client's connection: net-queue's Python client makes a
    // new call per exchange on one connection, and keeps one session.
    auto pipe = hub_.attach(shared_from_this(), context_->peer());
    if (!pipe) {
      // The communicator is closing, or this connection already has a call.
      finished_ = true;
      release();
      return Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "netqueue server: closing, or another call of this connection is in progress"));
    }
    begin(std::move(pipe));
  }

  void on_read_end() override {
    if (finished_) return report_detached();  // Finish went first; this read was the last operation
    if (aborting_) return finish_call();
    if (cancelled_.load(std::memory_order_acquire) || context_->IsCancelled())
      return begin_close(false, cancelled_reason_);
    // The client half-closed: flush what is queued for it, then end the call;
    // at most 16 MiB (net-queue's piece size), so that a client put to
    // without pause still gets its call back to send its own data.
    closing_ = true;
    closing_budget_ = net_queue_piece_size;
    pump();
  }

  void on_flushed() override { finish_call(); }

  void on_write_failed() override {
    begin_close(false, "writing to " + remote_ + " failed (client gone or call broken)");
  }

  void after_write() override {
    if (aborting_) finish_call();
  }

  void begin_close(bool graceful, const std::string& reason) override {
    if (finished_ || aborting_) return;
    closing_ = true;
    if (graceful) return pump();  // finish_call() once flushed
    aborting_ = true;
    reason_ = reason;
    context_->TryCancel();  // completes what is in flight at once
    if (!writing_) finish_call();
  }

  // Ends the call once no write is in flight. The link detaches before the
  // status goes out when nothing is in flight: a Python client makes its next
  // call as soon as it sees the status, and that call needs the session free.
  void finish_call() {
    if (finished_ || writing_) return;
    finished_ = true;
    if (!reading_) {
      detached_resumable_ = !aborting_ && pipe_;
      report_detached();
    }
    Finish(aborting_ ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "netqueue server: " + reason_) : grpc::Status::OK);
  }

  void end_detached_session() {
    detached_resumable_ = false;
    hub_.end_session(remote_, errc::transport, cancelled_reason_);  // the key: the connection (context_ may be gone)
  }

  grpc::GenericCallbackServerContext* const context_;
  Hub& hub_;
  const std::string cancelled_reason_;
  std::shared_ptr<ServerCall> self_;  // gRPC holds a raw pointer until OnDone
  std::atomic<bool> cancelled_{false};
  bool finished_ = false;  // Finish was called: no more operations
  bool detached_resumable_ = false;  // the session was told to wait for the next call
};

class GrpcServer final : public Transport {
 public:
  GrpcServer(const Options& options, Hub& hub) : options_(options), hub_(hub), service_(*this) {}
  ~GrpcServer() override { stop(); }

  void start() override {
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (options_.security.active()) {
      const TlsFiles files = tls_files(options_, true);
      // With a trust chain, clients must present a certificate it verifies.
      grpc::SslServerCredentialsOptions ssl(files.trust ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                        : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      ssl.pem_key_cert_pairs.push_back(
          {read_text(*files.key, "security.key"), read_text(*files.certificate, "security.certificate")});
      if (files.trust) ssl.pem_root_certs = read_text(*files.trust, "security.trust");
      credentials = grpc::SslServerCredentials(ssl);
    }
    const std::string address = address_of(options_.netloc.host, options_.netloc.port);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, credentials, &port);
    builder.SetMaxReceiveMessageSize(receive_limit(options_));
    builder.SetMaxSendMessageSize(-1);
    // Our own port only: no SO_REUSEPORT sharing with another server.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    const Keepalive keepalive = keepalive_of(options_);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive.time_ms);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive.timeout_ms);
    // Python clients poll: between their calls the connection has none.
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, min_ping_interval_ms);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, bdp_probe);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0)
      throw Error(errc::transport, "cannot listen on " + address + " (gRPC could not bind it)");
    port_ = static_cast<std::uint16_t>(port);
  }

  std::uint16_t port() const override { return port_; }

  // The core refuses new sessions itself once closing (Hub::attach); calls of
  // live sessions (a Python client's goodbye) must still come in.
  void stop_accepting() override {}

  void stop() override {
    if (!server_ || stopped_) return;
    stopped_ = true;
    stopping_.store(true, std::memory_order_release);
    {
      std::lock_guard lock(calls_mutex_);
      for (auto& weak : calls_)
        if (auto call = weak.lock()) call->close(false);
    }
    // Calls still open are cancelled; Shutdown returns once their reactors are done.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));  // gRPC takes wall-clock deadlines
    count_.wait_zero();
  }

 private:
  class Service final : public grpc::CallbackGenericService {
   public:
    explicit Service(GrpcServer& server) : server_(server) {}
    grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* context) override {
      return server_.make_call(context);
    }

   private:
    GrpcServer& server_;
  };

  // Refuses a call with `status` (a reactor that deletes itself).
  static grpc::ServerGenericBidiReactor* refuse(grpc::Status status) {
    class Refusal final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Refusal(grpc::Status s) { Finish(std::move(s)); }
      void OnDone() override { delete this; }
    };
    return new Refusal(std::move(status));
  }

  grpc::ServerGenericBidiReactor* make_call(grpc::GenericCallbackServerContext* context) {
    if (context->method() != method_path)
      return refuse(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                 "netqueue serves only " + std::string(method_path) + ", not " + context->method()));
    if (stopping_.load(std::memory_order_acquire))
      return refuse(grpc::Status(grpc::StatusCode::UNAVAILABLE, "netqueue server: stopped"));
    count_.add();
    auto call = std::make_shared<ServerCall>(hub_.make_executor(), context, hub_, count_, receive_limit(options_));
    {
      std::lock_guard lock(calls_mutex_);
      std::erase_if(calls_, [](const std::weak_ptr<ServerCall>& w) { return w.expired(); });
      calls_.push_back(call);
    }
    ServerCall* reactor = call.get();
    ServerCall::start(std::move(call));
    return reactor;
  }

  const Options& options_;
  Hub& hub_;
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};
  LinkCount count_;
  std::mutex calls_mutex_;
  std::vector<std::weak_ptr<ServerCall>> calls_;
};

// ---------------------------------------------------------------- client

// A client's call. Push (netqueue servers): the session's one call, kept
// open until the goodbyes. Poll (grpc.poll, net-queue's Python server): one
// exchange; the link is attached before the call starts, which it does when
// there is something to send or after the poll delay; the call half-closes
// once what is queued went out, reads the answer to its end, and detaches as
// resumable, and the transport attaches the next one.
class ClientCall final : public CallLink, public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Poll mode: called on the executor once the call ended well (detached as
  // resumable), with whether it carried any byte.
  using Over = std::function<void(bool carried)>;

  // `stub` makes the call; it outlives every call (the transport waits for them).
  ClientCall(std::shared_ptr<Executor> executor, std::string remote, LinkCount& count, grpc::GenericStub& stub,
             Over over = {})
      : CallLink(std::move(executor), std::move(remote), count),
        stub_(stub),
        over_(std::move(over)) {}

  // Push: starts the call at once for `pipe`; the call owns itself until OnDone.
  static void start(std::shared_ptr<ClientCall> call, std::shared_ptr<Pipe> pipe) {
    call->self_ = call;
    call->post([pipe = std::move(pipe)](CallLink& c) mutable {
      auto& s = static_cast<ClientCall&>(c);
      s.start_call();
      s.begin(std::move(pipe));
      if (s.aborting_) s.read_more();  // closed before it started: learn the end
    });
  }

  // Poll: the call starts when the session has something to send, or after `delay`.
  static void start_polling(std::shared_ptr<ClientCall> call, std::shared_ptr<Pipe> pipe, Clock::duration delay) {
    call->self_ = call;
    call->post([pipe = std::move(pipe), delay](CallLink& c) mutable {
      auto& s = static_cast<ClientCall&>(c);
      if (s.released_) return;  // closed before it began
      s.pipe_ = std::move(pipe);
      if (s.wanted_) return s.start_poll();
      // Weak: the alarm belongs to the call, and a callback holding the call
      // would keep both alive if gRPC never ran it (self_ keeps the call).
      std::weak_ptr<ClientCall> weak = std::static_pointer_cast<ClientCall>(s.shared_from_this());
      s.alarm_.Set(std::chrono::system_clock::now() + delay, [weak = std::move(weak)](bool fired) {
        if (auto self = weak.lock(); self && fired)
          self->post([](CallLink& l) { static_cast<ClientCall&>(l).start_poll(); });
      });
    });
  }

  void wake_send() override {
    post([](CallLink& c) {
      auto& s = static_cast<ClientCall&>(c);
      if (s.over_ && !s.started_) return s.start_poll();
      s.pump();
    });
  }

  void OnReadDone(bool ok) override { read_done(ok); }
  void OnWriteDone(bool ok) override { write_done(ok); }
  void OnDone(const grpc::Status& status) override {
    post([status](CallLink& c) {
      auto& s = static_cast<ClientCall&>(c);
      if (!s.aborting_ || s.reason_.empty())
        s.reason_ = status.ok() ? "the server ended the call" : "the call to " + s.remote_ + " failed: " + status_text(status);
      // Pushing, a session cannot continue on a new call however the call
      // ended (a session whose goodbyes were exchanged ends well all the
      // same); polling, an exchange that ended well is followed by the next.
      const bool next = s.over_ && status.ok() && !s.aborting_;
      if (!next) s.aborting_ = true;
      s.report_detached();
      if (next) s.over_(s.carried_);  // before release(): stop() waits for it
      s.release();
      s.self_.reset();
    });
  }

 private:
  void issue_read(grpc::ByteBuffer* into) override { StartRead(into); }
  void issue_write(const grpc::ByteBuffer* piece) override { StartWrite(piece); }
  bool call_open() const override { return started_ && !hold_released_; }

  void start_call() {
    started_ = true;
    stub_.PrepareBidiStreamingCall(&context_, method_path, grpc::StubOptions(), this);
    // The hold keeps OnDone back until we stop issuing operations, so that
    // none can race with the end of the call.
    AddHold();
    StartCall();
  }

  // Poll: the exchange starts (once), and half-closes once what is queued went out.
  void start_poll() {
    if (!pipe_) {
      wanted_ = true;  // attach asked before the pipe came: start_polling starts it
      return;
    }
    if (started_ || released_) return;
    alarm_.Cancel();
    closing_ = true;
    start_call();
    read_more();
    pump();
  }

  // The read side ended: the server ended the call or it failed. Its status
  // follows in OnDone once the hold is gone.
  void on_read_end() override {
    closing_ = true;
    write_ended_ = true;  // nothing more goes out on an ended call
    release_hold_when_idle();
  }

  void on_flushed() override {
    if (writes_done_) return;
    writes_done_ = true;
    write_ended_ = true;  // half-closed: what is queued from now on waits for the next call
    StartWritesDone();    // the server flushes its side and ends the call
  }

  void on_write_failed() override { begin_close(false, "writing to " + remote_ + " failed"); }

  void after_write() override { release_hold_when_idle(); }

  void begin_close(bool graceful, const std::string& reason) override {
    if (hold_released_ || aborting_ || released_) return;
    if (!started_ && over_) {
      // A poll not started: nothing in flight, nothing to flush (a graceful
      // close comes after both goodbyes) and no call to end.
      alarm_.Cancel();
      aborting_ = !graceful;
      reason_ = graceful ? "closed" : reason;
      report_detached();
      release();
      self_.reset();
      return;
    }
    closing_ = true;
    if (graceful) return pump();  // half-closes once flushed
    aborting_ = true;
    reason_ = reason;
    context_.TryCancel();
    read_more();  // a read in flight tells us when the call is over
    release_hold_when_idle();
  }

  void release_hold_when_idle() {
    if (hold_released_ || !read_ended_ || writing_) return;
    hold_released_ = true;
    RemoveHold();
  }

  grpc::ClientContext context_;
  grpc::GenericStub& stub_;
  const Over over_;  // set: poll mode
  grpc::Alarm alarm_;
  std::shared_ptr<ClientCall> self_;
  bool started_ = false;
  bool wanted_ = false;
  bool writes_done_ = false;
  bool hold_released_ = false;
};

class GrpcClient final : public Transport {
 public:
  GrpcClient(const Options& options, Hub& hub)
      : options_(options), hub_(hub), target_(address_of(options.netloc.host, options.netloc.port)) {}
  ~GrpcClient() override { stop(); }

  void start() override {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (options_.security.active()) {
      const TlsFiles files = tls_files(options_, false);
      grpc::SslCredentialsOptions ssl;  // no root certificates given: the system's
      const char* trust_option = options_.security.trust ? "security.trust" : "security.certificate";
      if (files.trust) ssl.pem_root_certs = read_text(*files.trust, trust_option);
      if (files.key) {
        ssl.pem_private_key = read_text(*files.key, "security.key");
        ssl.pem_cert_chain = read_text(*files.certificate, "security.certificate");
      }
      credentials = grpc::SslCredentials(ssl);
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(receive_limit(options_));
    args.SetMaxSendMessageSize(-1);
    // A connection of our own: the server tells sessions apart by connection,
    // and gRPC would otherwise share one between channels to the same target.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    const Keepalive keepalive = keepalive_of(options_);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive.time_ms);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive.timeout_ms);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // keep pinging an idle call (default: 2 pings)
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, bdp_probe);
    channel_ = grpc::CreateCustomChannel(target_, credentials, args);
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
    const auto deadline = Clock::now() + options_.connection.connect_timeout;
    connector_ = std::thread([this, deadline] { connect(deadline); });
  }

  std::uint16_t port() const override { return static_cast<std::uint16_t>(options_.netloc.port); }

  void stop_accepting() override { stopping_.store(true, std::memory_order_release); }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    stop_accepting();
    if (connector_.joinable()) connector_.join();
    std::shared_ptr<ClientCall> call;
    {
      std::lock_guard lock(mutex_);
      call = call_.lock();
    }
    if (call) call->close(false);
    count_.wait_zero();
  }

 private:
  // Connector thread: waits for the channel (gRPC retries with its own
  // backoff) until the deadline, then makes the session's one call.
  void connect(Clock::time_point deadline) {
    for (;;) {
      if (stopping_.load(std::memory_order_acquire)) return;
      // Short waits, so that stop() is not held up (gRPC takes wall-clock deadlines).
      const auto wait = std::min<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(50));
      if (channel_->WaitForConnected(std::chrono::system_clock::now() + std::max<Clock::duration>(wait, {}))) break;
      if (Clock::now() >= deadline) {
        if (stopping_.load(std::memory_order_acquire)) return;
        const auto secs = std::chrono::duration<double>(options_.connection.connect_timeout).count();
        return hub_.transport_failed(errc::connect_failed, "could not connect to gRPC server " + target_ + " within " +
                                                               std::to_string(secs).substr(0, 5) + " s" +
                                                               (options_.security.active() ? " (TLS)" : "") +
                                                               last_error());
      }
    }
    if (options_.grpc.poll) return next_poll(true);
    std::lock_guard lock(mutex_);
    auto call = std::make_shared<ClientCall>(hub_.make_executor(), target_, count_, *stub_);
    auto pipe = hub_.attach(call);
    if (!pipe) return;  // closing: no call is made
    count_.add();
    call_ = call;
    ClientCall::start(std::move(call), std::move(pipe));
  }

  // Why the channel does not connect, as gRPC tells a call that fails at
  // once on it ("...: Ssl handshake failed: ... CERTIFICATE_VERIFY_FAILED",
  // "...: Connection refused"); the channel itself says only that it failed.
  std::string last_error() {
    grpc::ClientContext context;
    context.set_wait_for_ready(false);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::Slice nothing;
    const grpc::ByteBuffer request(&nothing, 1);  // a message of no bytes (an empty ByteBuffer is none)
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub_->UnaryCall(&context, method_path, grpc::StubOptions(), &request, &response,
                     [&done](grpc::Status status) { done.set_value(std::move(status)); });
    const grpc::Status status = done.get_future().get();
    if (status.ok() || status.error_message().empty()) return {};
    std::string why = ": " + status.error_message();
    // Over TLS 1.3 a server that refuses our client certificate (or wants
    // one) closes the connection after our side of the handshake is done.
    if (options_.security.active() &&
        (why.find("Socket closed") != std::string::npos || why.find("Connection reset") != std::string::npos))
      why += std::string(" (the server closed the connection after the TLS handshake: ") +
             (options_.security.key ? "did it refuse our client certificate?)" : "does it want a client certificate?)");
    return why;
  }

  // Poll mode: the next exchange's link, attached now; its call starts when
  // the session has something to send, or after the poll delay: 1/1024 s
  // after an exchange that carried bytes, doubling up to 0.5 s while none do
  // (net-queue's client's back-off).
  void next_poll(bool carried) {
    constexpr Clock::duration first = std::chrono::microseconds(977), ceiling = std::chrono::milliseconds(500);
    poll_delay_ = carried ? first : std::min<Clock::duration>(poll_delay_ * 2, ceiling);
    std::lock_guard lock(mutex_);
    if (stopping_.load(std::memory_order_acquire)) return;
    auto call = std::make_shared<ClientCall>(hub_.make_executor(), target_, count_, *stub_,
                                             [this](bool more) { next_poll(more); });
    auto pipe = hub_.attach(call);
    if (!pipe) return;  // the session is over, or the communicator closing
    count_.add();
    call_ = call;
    ClientCall::start_polling(std::move(call), std::move(pipe), poll_delay_);
  }

  const Options& options_;
  Hub& hub_;
  const std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::thread connector_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  LinkCount count_;
  std::mutex mutex_;  // orders stop() and the attaching of the next poll
  std::weak_ptr<ClientCall> call_;  // the latest call (the session's one, when pushing)
  Clock::duration poll_delay_{};   // poll mode: from one exchange to the next, on their executors
};

std::unique_ptr<Transport> make(Purpose purpose, const Options& options, Hub& hub) {
  if (purpose == Purpose::server) return std::make_unique<GrpcServer>(options, hub);
  return std::make_unique<GrpcClient>(options, hub);
}

void validate(const Options& o, Purpose purpose) {
  require(purpose == Purpose::server || o.netloc.port != 0, "netloc.port",
          "a client needs the server's port (0 is only for servers)");
  require(o.connection.max_size <= static_cast<std::size_t>(INT_MAX), "connection.max_size",
          "a gRPC message is at most " + std::to_string(INT_MAX) + " bytes");
  require_tls_files(o, purpose == Purpose::server);
  require(!o.security.partial_chain, "security.partial_chain",
          "gRPC verifies certificate chains itself and has no partial-chain mode (tcp has)");
}

}  // namespace

// gRPC hands received messages over as the slices they came in (no single
// buffer per message); everything else holds: a cancelled call or a closed
// connection ends the link at once, and HTTP/2 flow control holds a sender
// back while we do not read.
const TransportInfo grpc_transport{Protocol::grpc, &make, &validate,
                                   Capabilities{.one_buffer_per_message = false}};

}  // namespace netqueue::detail
