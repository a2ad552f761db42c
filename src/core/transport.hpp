// The one seam between the core and the transports.
//
// A transport only moves pieces of bytes. The core (Session) owns everything
// protocol-independent: framing, hello/goodbye, per-peer send queues, merge
// and split, byte accounting for put futures, receive bounds and the get queue.
// If a transport parses frames or tracks hellos, the seam is in the wrong place.
//
//   transport -> core: Hub::attach (a connection is up), Session::receive_buffer
//                      / on_received / on_piece (bytes came in),
//                      Session::next_batch / on_sent (bytes went out),
//                      Session::on_closed (the connection ended),
//                      Hub::connect_failed (a client gave up).
//   core -> transport: Link::wake_send / wake_receive / close.
//
// Threading: the transport calls the Session methods of one link from one
// logical thread at a time (a strand), never concurrently with each other.
// Link methods may be called from any thread (user threads included), never
// block, and must not call back into the Session synchronously: they post.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "netqueue/options.hpp"
#include "netqueue/protocol.hpp"

namespace netqueue::detail {

class Session;

// The transport's side of one connection (TCP socket, MQTT topic pair, gRPC call stream).
class Link {
 public:
  virtual ~Link() = default;
  // The session has bytes queued. The transport will call Session::next_batch
  // (on the link's strand) until it returns an empty batch. Any thread.
  virtual void wake_send() = 0;
  // The session stopped receiving (receive bound) and may receive again: the
  // transport calls Session::receive_buffer/on_piece again. Any thread.
  virtual void wake_receive() = 0;
  // Ends the connection. graceful: after the batches already handed over went
  // out, shut down cleanly (TLS close_notify, FIN); otherwise abort at once.
  // Afterwards the transport calls Session::on_closed exactly once. Any thread;
  // idempotent.
  virtual void close(bool graceful) = 0;
  // The remote end as text ("127.0.0.1:40122"), for messages.
  virtual std::string remote() const = 0;
};

// The core's side seen by a transport (implemented by Core).
class Hub {
 public:
  virtual ~Hub() = default;
  // A connection is up. Server: returns a new session for it. Client: returns
  // the communicator's one session, which starts sending what was queued.
  // Returns null when the communicator is closing: the transport drops the link.
  virtual std::shared_ptr<Session> attach(std::shared_ptr<Link> link) = 0;
  // A client could not reach its server within connect_timeout (or at all, for
  // a non-retryable reason): `reason` says why. Called at most once.
  virtual void connect_failed(const std::string& reason) = 0;
  // Diagnostics through the options' log hook.
  virtual void log(LogLevel level, const std::string& text) = 0;
};

// One transport instance per communicator.
class Transport {
 public:
  virtual ~Transport() = default;
  // Server: listen (throws netqueue::Error when it cannot). Client: begin
  // connecting in the background. Never blocks on the network.
  virtual void start() = 0;
  // The listening port (server) or the server's port (client).
  virtual std::uint16_t port() const = 0;
  // Server: stop accepting new connections. Client: stop retrying. Non-blocking.
  virtual void stop_accepting() = 0;
  // Aborts every link still open, stops and joins the transport's threads.
  // Blocks. After it returns the transport calls nothing in the core.
  virtual void stop() = 0;
};

// The registry: one line per transport (src/core/registry.cpp).
std::unique_ptr<Transport> make_transport(Protocol protocol, Purpose purpose, const Options& options, Hub& hub);

}  // namespace netqueue::detail
