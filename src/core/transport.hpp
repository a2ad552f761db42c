// The one seam between the core and the transports: the whole contract.
//
// A transport moves pieces of bytes and reports what happened; nothing more.
// The core owns everything protocol-independent: framing, hello/goodbye,
// sessions, merge and split, byte accounting for put futures, receive bounds,
// the get queue, deadlines and close. If a transport parses frames or tracks
// hellos, the seam is in the wrong place. A transport includes this header
// and nothing else of the core; it registers itself with one line in
// src/transports.cpp (docs/transports.md is the checklist).
//
// Words used below:
//   session  one peer's conversation: a framed byte stream in each direction.
//            The core makes and ends sessions; it may outlive its links.
//   link     the transport's carrier of one session for a while: a TCP
//            connection, an MQTT topic pair, a gRPC call. At most one link
//            carries a session at a time; a session may get a new link later
//            (the successive calls of one gRPC peer).
//   pipe     the session as seen through one link (below): the transport
//            calls it to hand pieces up and to take pieces to send.
//   strand   the link's serial context: the transport calls the Pipe of one
//            link from one logical thread at a time, never concurrently.
//            Hub::make_executor() gives one to libraries that call back on
//            their own threads.
//
// Ownership and lifetime: the Options& and Hub& given to a transport outlive
// it (the core stops the transport before either goes). A Pipe stays valid as
// long as the transport holds its shared_ptr; after Pipe::detached it must be
// dropped and not called again.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "netqueue/error.hpp"
#include "netqueue/options.hpp"
#include "netqueue/protocol.hpp"
#include "netqueue/stream.hpp"

namespace netqueue::detail {

// How a link ended, as the transport reports it.
enum class LinkEnd {
  // The byte stream is intact: every piece taken was acknowledged and every
  // piece received was handed up. A later link with the same key continues
  // the session (a gRPC call that ended with status OK). The core ends the
  // session if no link comes back within connection.resume_timeout.
  resumable,
  // Bytes may have been lost (connection reset, broker gone, call failed):
  // the session ends with `reason`.
  lost,
};

// The session as seen by the transport through one link. Implemented by the
// core. Strand only: every call for one link comes from its strand; none
// blocks on the network; none calls back into the Link synchronously.
class Pipe {
 public:
  using Buffer = std::span<const std::byte>;

  // ---- receiving: use one of the two styles for a given link ----
  //
  // Stream style (a socket read straight into core memory, zero copy):
  // receive_buffer() is where the next bytes go (never empty), valid until the
  // next received() or received_piece(); received(n) says n bytes were written
  // at its start.
  virtual std::span<std::byte> receive_buffer() = 0;
  virtual void received(std::size_t n) = 0;
  // Bytes certainly coming (the rest of the current frame): a transport may
  // wait for that many before waking up. 0 when nothing is known.
  virtual std::size_t receive_expected() const noexcept = 0;
  //
  // Piece style (a library hands a message over: Paho, gRPC, inproc): `piece`
  // is one piece of the peer's stream, cut anywhere. Owned memory is kept by
  // shared ownership (frames are sliced out of it, no copy); a borrowed chunk
  // (memory that dies after the call) is copied first, so nothing a transport
  // passes can dangle behind get().
  virtual void received_piece(Chunk piece) = 0;
  //
  // Whether the transport should receive more now. False while the receive
  // bound is reached (Link::wake_receive follows when it may go on) or after
  // the session ended. A transport that cannot stop its library from
  // delivering keeps what arrives and hands it up after wake_receive.
  virtual bool receiving() = 0;

  // ---- sending: use one of the two styles for a given link ----
  //
  // Gather style (one batch in flight; TCP's writev): next_batch() is a prefix
  // of what is queued, at most connection.max_size bytes, as buffers that stay
  // valid until sent(). Calling it again before sent() rebuilds the same
  // batch. sent() says the whole batch was handed over: the futures of the
  // puts it completes resolve. Empty batch: nothing queued; wake_send follows.
  virtual std::span<const Buffer> next_batch() = 0;
  virtual void sent() = 0;
  //
  // Owned style (many pieces in flight; MQTT publishes, gRPC slices, inproc):
  // take_piece() removes the next piece (at most connection.max_size bytes) and
  // returns it as owned chunks: the callers' owned memory shared, merged and
  // borrowed bytes copied. The piece may be kept as long as the transport
  // likes. acknowledged(n) says n more bytes of the taken pieces, in the order
  // taken, reached the point the transport promises (MQTT QoS 1: PUBACK;
  // inproc: handed to the peer); the puts they complete resolve then. Empty
  // piece: nothing queued; wake_send follows.
  virtual Stream take_piece() = 0;
  virtual void acknowledged(std::uint64_t bytes) = 0;
  // Bytes taken and not yet acknowledged.
  virtual std::uint64_t unacknowledged() const noexcept = 0;

  // ---- the end of this link ----
  //
  // Exactly once per link, and only when nothing of the link is in flight
  // (no read into receive_buffer(), no write of a batch pending): the core may
  // free those buffers at once. After it the transport drops the Pipe.
  // `cause` is the error behind a lost link, when there is one: the socket's
  // code (std::errc::connection_reset when the peer dropped it), the TLS
  // library's, or a netqueue errc (errc::transport for a lost broker); empty
  // for an orderly end (EOF, the call finished). The session's puts fail with
  // ClosedError carrying it: empty, reset, aborted or broken pipe give
  // errc::closed, a netqueue errc itself, anything else errc::transport.
  virtual void detached(LinkEnd end, const std::string& reason, std::error_code cause) = 0;

  // "peer <id> (<remote>)" once the peer said hello, else the link's remote
  // address.
  virtual std::string describe() const = 0;

 protected:
  ~Pipe() = default;
};

// The transport's side of one link. Implemented by the transport. Every
// method may be called from any thread (user threads included), never blocks
// and never calls back into the Pipe synchronously: it posts to the strand.
class Link {
 public:
  virtual ~Link() = default;
  // The session has bytes queued: the transport takes batches or pieces (on
  // the strand) until it gets an empty one.
  virtual void wake_send() = 0;
  // The session may receive again after Pipe::receiving() said false.
  virtual void wake_receive() = 0;
  // Ends the link. graceful: after what was handed over went out, shut down
  // cleanly (TLS close_notify, FIN, end of the call); otherwise at once.
  // Pipe::detached follows exactly once. Idempotent.
  virtual void close(bool graceful) = 0;
  // The remote end as text ("127.0.0.1:40122"), for messages.
  virtual std::string remote() const = 0;
};

// A serial executor: tasks run one at a time, in the order posted, on the
// core's worker threads (Options::workers). For libraries that call back on
// threads of their own: post the work to the link's executor and the strand
// rule holds. post() never blocks and may be called from any thread; tasks
// posted after the communicator stopped are dropped (destroyed, not run).
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void post(std::function<void()> task) = 0;
};

// The core as seen by a transport. Implemented by the core; any thread.
class Hub {
 public:
  // A link is up. `key` names the session it carries for transports whose
  // sessions outlive a link (gRPC: the peer's connection; MQTT: the topic's
  // hex id); a link with the key of a live session continues that session.
  // An empty key always means a new session (server) or the client's one
  // session (client). Returns null when the link is not wanted (the
  // communicator is closing, or the key's session already has a link): the
  // transport then closes the link without calling the Pipe.
  virtual std::shared_ptr<Pipe> attach(std::shared_ptr<Link> link, std::string_view key = {}) = 0;
  // The transport cannot carry sessions now (a client that could not reach
  // its server within connect_timeout: errc::connect_failed; a lost broker:
  // errc::transport). Every session ends with `reason`; a client's pending
  // puts and gets fail with Error(code, reason). Links still open are closed
  // by the transport as usual.
  virtual void transport_failed(errc code, const std::string& reason) = 0;
  // Ends the live session of `key`, linked or not, for a transport whose
  // sessions outlive a link: its stream broke after its link had detached as
  // resumable (gRPC: a call cancelled for a message over the receive limit),
  // so no later link may continue it. Its puts fail with ClosedError(code)
  // naming the peer. Nothing happens when no live session has the key.
  virtual void end_session(std::string_view key, errc code, const std::string& reason) = 0;
  // Diagnostics through the options' log hook.
  virtual void log(LogLevel level, const std::string& text) = 0;
  // A new serial executor (see Executor).
  virtual std::shared_ptr<Executor> make_executor() = 0;

 protected:
  ~Hub() = default;
};

// One transport instance per communicator, made by its TransportInfo::make.
class Transport {
 public:
  virtual ~Transport() = default;
  // Server: listen (throws netqueue::Error when it cannot). Client: begin
  // connecting in the background. Never blocks on the network.
  virtual void start() = 0;
  // The listening port (server) or the port it connects to (client).
  virtual std::uint16_t port() const = 0;
  // Server: accept no new links (links with the key of a live session may
  // still come: a client's last call carrying its goodbye). Client: stop
  // retrying. Non-blocking.
  virtual void stop_accepting() = 0;
  // Closes every link still open (each Pipe::detached follows), stops and
  // joins the transport's threads. Blocks. Afterwards the transport calls
  // nothing of the core.
  virtual void stop() = 0;
};

// What differs between transports, stated instead of hidden. The conformance
// suite reads these.
struct Capabilities {
  // A peer that vanishes without a goodbye is noticed by the other side soon
  // (connection reset, end of call), not only by a keepalive deadline.
  bool detects_peer_loss = true;
  // The receive bound holds a sender back (flow control reaches the sender).
  bool back_pressure = true;
  // Moves hundreds of MiB within a test's time.
  bool heavy_ok = true;
  // A large message arrives in one buffer (read straight from a socket);
  // otherwise as the pieces it came in, shared, not copied together.
  bool one_buffer_per_message = true;
};

// One transport, as the registry (src/transports.cpp) lists it.
struct TransportInfo {
  Protocol protocol;
  // Makes the transport; `options` were validated by the core and `validate` below.
  std::unique_ptr<Transport> (*make)(Purpose purpose, const Options& options, Hub& hub);
  // Transport-specific option checks: throws OptionError naming the field.
  void (*validate)(const Options& options, Purpose purpose);
  Capabilities capabilities;
};

// For TransportInfo::validate: throw OptionError(option, why) unless `ok`;
// OptionError(option) when `path` is set and cannot be read.
void require(bool ok, const char* option, const std::string& why);
void require_readable(const std::optional<std::string>& path, const char* option);

// TLS: the files one end uses, from Options::security (the rules are in
// include/netqueue/options.hpp). `acceptor`: this end accepts TLS connections
// (a tcp or grpc server); otherwise it connects (a client; both MQTT ends).
struct TlsFiles {
  std::optional<std::string> certificate;  // this end's chain, presented with `key`
  std::optional<std::string> key;
  // Verifies the peer. Unset: a connecting end uses the default trust store,
  // an acceptor asks for no client certificate.
  std::optional<std::string> trust;
};
TlsFiles tls_files(const Options& options, bool acceptor);
// For TransportInfo::validate: when security is active, throws OptionError
// unless the files fit the role (an acceptor needs key and certificate; a key
// needs a certificate; a client without a key names one trust chain, not two).
void require_tls_files(const Options& options, bool acceptor);

// The registry (src/transports.cpp): the transport for `protocol`, or null
// when it is not built in.
const TransportInfo* find_transport(Protocol protocol) noexcept;

}  // namespace netqueue::detail
