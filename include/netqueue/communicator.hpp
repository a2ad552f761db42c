// Communicator: a client or a server for one protocol, chosen at run time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "netqueue/export.hpp"
#include "netqueue/future.hpp"
#include "netqueue/id.hpp"
#include "netqueue/message.hpp"
#include "netqueue/options.hpp"
#include "netqueue/protocol.hpp"
#include "netqueue/stream.hpp"

namespace netqueue {

namespace detail {
class Core;
}

struct Statistics {
  // Data messages only (hello and goodbye are not counted), payload bytes.
  std::uint64_t bytes_in = 0;      // payload bytes of messages received
  std::uint64_t bytes_out = 0;     // payload bytes of messages handed over
  std::uint64_t messages_in = 0;   // messages received (parts count one each)
  std::uint64_t messages_out = 0;  // messages handed over
  // The framed byte stream as the transport moved it (headers, hello, goodbye).
  std::uint64_t stream_bytes_in = 0;
  std::uint64_t stream_bytes_out = 0;
  std::uint64_t queued = 0;     // received messages waiting for get()
  std::uint64_t dropped = 0;    // received messages dropped by queue_size
  std::uint64_t truncated = 0;  // received messages marked truncated (cut short by a session's end)
  std::uint64_t peers = 0;      // connected peers now
};

// Thread safety: every member function may be called from any thread at once.
class NETQUEUE_API Communicator {
 public:
  // Validates `options` (throws OptionError naming the field), starts the
  // transport's threads and returns at once: never blocks on the network. A
  // server listens before this returns; a client connects in the background,
  // retrying until connection.connect_timeout. Throws Error(errc::unavailable)
  // for a protocol not built in, Error(errc::transport) when a server cannot
  // listen (port in use).
  Communicator(Protocol protocol, Purpose purpose, Options options = {});
  // A client closes as close_for(connection.connect_timeout) would; a server
  // closes at once (close_for(0)), failing what it could not hand over.
  ~Communicator();
  Communicator(Communicator&&) noexcept;
  Communicator& operator=(Communicator&&) noexcept;

  const Id& id() const noexcept;
  Protocol protocol() const noexcept;
  Purpose purpose() const noexcept;
  // The port a server listens on (the real one when netloc.port is 0); for a
  // client, the port it connects to.
  std::uint16_t local_port() const noexcept;

  // Queues `data` and returns at once (never blocks). Client: to the server.
  // Server: to every connected client (serialized once). The library keeps the
  // stream's chunks (sharing ownership, or borrowing: then the caller keeps the
  // bytes alive and unmodified until the future is ready) and never modifies
  // them. Errors are reported through the future, never thrown.
  SendFuture put(Stream data);
  // To the named peers only (a client may only name its server).
  SendFuture put(Stream data, std::span<const Id> peers);
  SendFuture put(Stream data, const Id& peer) { return put(std::move(data), std::span(&peer, 1)); }

  // The next message from any peer, FIFO per peer; blocks until one arrives.
  // After close() (or, for a client, after its server is gone) it returns what
  // was already received, then throws ClosedError. A client that could not
  // connect throws Error(errc::connect_failed).
  Message get();
  // As get(), but nullopt when nothing arrived within `timeout`.
  std::optional<Message> get_for(std::chrono::nanoseconds timeout);
  template <class Rep, class Period>
  std::optional<Message> get_for(std::chrono::duration<Rep, Period> timeout) {
    return get_for(detail::saturate(timeout));
  }
  // As get(), without waiting.
  std::optional<Message> try_get();

  // Blocks until done; idempotent. A client hands over what it queued, says
  // goodbye and waits for the server's goodbye. A server stops accepting and
  // waits for every client to say goodbye (and answers it). What cannot be
  // handed over fails with ClosedError; every future ends exactly once.
  // Every thread the library started is joined.
  void close();
  // As close(), but gives up waiting after `deadline`: remaining sessions are
  // cut and their pending futures fail. True when everything ended gracefully:
  // false when a session had to be cut, a peer dropped its link during the
  // close, or (a client) its server was lost before. Called while another
  // thread's close() or close_for() waits, it brings that wait's end forward
  // to its own deadline when earlier (then returns the same outcome).
  bool close_for(std::chrono::nanoseconds deadline);
  template <class Rep, class Period>
  bool close_for(std::chrono::duration<Rep, Period> deadline) {
    return close_for(detail::saturate(deadline));
  }

  // The peers connected now (a client: its server, once it said hello).
  std::vector<Id> peers() const;
  Statistics statistics() const;

 private:
  std::unique_ptr<detail::Core> core_;
};

// The factory by names chosen at run time: make_communicator("tcp", "server").
// Unknown names throw OptionError listing the valid ones.
inline Communicator make_communicator(std::string_view protocol, std::string_view purpose, Options options = {}) {
  return Communicator(parse_protocol(protocol), parse_purpose(purpose), std::move(options));
}

}  // namespace netqueue
