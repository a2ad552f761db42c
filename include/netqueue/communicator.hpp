/// @file
/// Communicator: a client or a server for one protocol, chosen at run time.
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

/// A communicator's counters, as Communicator::statistics() returns them.
///
/// Data messages only (hello and goodbye are not counted), payload bytes,
/// except for the `stream_bytes_*` fields. Counters count from construction; `queued` and `peers` are values now.
struct Statistics {
  std::uint64_t bytes_in = 0;      ///< payload bytes of messages received
  std::uint64_t bytes_out = 0;     ///< payload bytes of messages handed over
  std::uint64_t messages_in = 0;   ///< messages received (parts count one each)
  std::uint64_t messages_out = 0;  ///< messages handed over
  /// The framed byte stream as the transport moved it in (headers, hello, goodbye).
  std::uint64_t stream_bytes_in = 0;
  /// The framed byte stream as the transport moved it out (headers, hello, goodbye).
  std::uint64_t stream_bytes_out = 0;
  std::uint64_t queued = 0;     ///< received messages waiting for get()
  std::uint64_t dropped = 0;    ///< received messages dropped by queue_size
  std::uint64_t truncated = 0;  ///< received messages marked truncated (cut short by a session's end)
  std::uint64_t peers = 0;      ///< connected peers now
};

/// A client or a server for one protocol, chosen at run time.
///
/// A client talks to one server; a server to every client connected to it. put() queues a Stream for peers and
/// returns a SendFuture; get() returns the next Message received; close() ends the sessions gracefully.
///
/// Thread safety: every member function may be called from any thread at once (the destructor and the move
/// operations excepted, as for any object). Options' hooks run on library threads and must not call back into
/// the communicator.
///
/// Movable, not copyable. A moved-from Communicator may only be destroyed or assigned to.
class NETQUEUE_API Communicator {
 public:
  /// Validates `options` (throws OptionError naming the field), starts the
  /// transport's threads and returns at once: never blocks on the network. A
  /// server listens before this returns; a client connects in the background,
  /// retrying until connection.connect_timeout. Throws Error(errc::unavailable)
  /// for a protocol not built in, Error(errc::transport) when a server cannot
  /// listen (port in use).
  ///
  /// @param protocol the transport (make_communicator() takes it by name).
  /// @param purpose client or server.
  /// @param options kept as the communicator's own copy, with its hooks.
  /// @throws OptionError an invalid option (errc::invalid_option), including a TLS key or certificate file that
  ///         cannot be read or loaded.
  /// @throws Error errc::unavailable: `protocol` is not built in (is_available()); errc::transport: a server
  ///         cannot listen (its port in use, an inproc endpoint taken).
  Communicator(Protocol protocol, Purpose purpose, Options options = {});
  /// A client closes as close_for(connection.connect_timeout) would; a server
  /// closes at once (close_for(0)), failing what it could not hand over.
  /// Nothing to do when it was closed already.
  ~Communicator();
  /// Takes over the other's communicator; the moved-from one may then only be destroyed or assigned to.
  Communicator(Communicator&&) noexcept;
  /// Takes over the other's communicator and closes the one this held as the destructor would (which may block).
  Communicator& operator=(Communicator&&) noexcept;

  /// This communicator's id (Options::id, or the random one chosen at construction). The reference is valid until
  /// the communicator is destroyed (a move does not end it).
  const Id& id() const noexcept;
  /// The protocol it was made with.
  Protocol protocol() const noexcept;
  /// Client or server, as it was made.
  Purpose purpose() const noexcept;
  /// The port a server listens on (the real one when netloc.port is 0); for a
  /// client, the port it connects to. MQTT: the broker's port, for either purpose.
  std::uint16_t local_port() const noexcept;

  /// Queues `data` and returns at once (never blocks). Client: to the server.
  /// Server: to every connected client (serialized once). The library keeps the
  /// stream's chunks (sharing ownership, or borrowing: then the caller keeps the
  /// bytes alive and unmodified until the future is ready) and never modifies
  /// them. Errors are reported through the future, never thrown.
  ///
  /// A server's "every connected client" is every client that had said hello when put() was called; with none,
  /// the future is ready at once and nothing is sent. A client's put made before it connected waits behind its
  /// hello. The future fails with ClosedError naming this communicator when it is closing or closed, with the
  /// error a peer's session ended with when that peer is gone before the bytes were handed over, and, for a
  /// client that never reached its server, with Error(errc::connect_failed).
  SendFuture put(Stream data);
  /// To the named peers only (a client may only name its server).
  ///
  /// `peers` is read during the call only; an empty span means every connected client, as put(data). Server: a
  /// named peer that is not connected fails its part of the future with ClosedError naming it. Client: until its
  /// server's hello arrived any name is taken on trust (the message goes to the server); after it, naming another
  /// peer fails the future with Error(errc::invalid_option).
  SendFuture put(Stream data, std::span<const Id> peers);
  /// To one peer: as put(data, std::span(&peer, 1)).
  SendFuture put(Stream data, const Id& peer) { return put(std::move(data), std::span(&peer, 1)); }

  /// The next message from any peer, FIFO per peer; blocks until one arrives.
  /// After close() (or, for a client, after its server is gone) it returns what
  /// was already received, then throws ClosedError. A client that could not
  /// connect throws Error(errc::connect_failed).
  ///
  /// Several threads may get at once: each message goes to one of them. The Message owns its bytes. A server's
  /// get() waits through clients coming and going: only close() ends it.
  /// @throws ClosedError once closed and drained: a client's names its server (the nil id when it never answered)
  ///         with the errc its session ended with; a server's names the server itself.
  /// @throws Error errc::connect_failed: a client could not reach its server within connection.connect_timeout;
  ///         errc::transport: an MQTT client lost its broker.
  Message get();
  /// As get(), but nullopt when nothing arrived within `timeout` (zero or negative: no wait).
  std::optional<Message> get_for(std::chrono::nanoseconds timeout);
  /// As get_for(std::chrono::nanoseconds), for any duration; one too long for nanoseconds waits without limit.
  template <class Rep, class Period>
  std::optional<Message> get_for(std::chrono::duration<Rep, Period> timeout) {
    return get_for(detail::saturate(timeout));
  }
  /// As get(), without waiting: nullopt when no message is queued (once closed and drained, it throws as get()).
  std::optional<Message> try_get();

  /// Blocks until done; idempotent. A client hands over what it queued, says
  /// goodbye and waits for the server's goodbye. A server stops accepting and
  /// waits for every client to say goodbye (and answers it). What cannot be
  /// handed over fails with ClosedError; every future ends exactly once.
  /// Every thread the library started is joined.
  ///
  /// It waits without a time limit (close_for() sets one): a server waits until each client has said goodbye or
  /// its session ended otherwise. Afterwards put() fails its future with ClosedError, and get() returns what was
  /// received, then throws. Must not be called from a hook (Options::log, on_peer_joined, on_peer_left).
  void close();
  /// As close(), but gives up waiting after `deadline`: remaining sessions are
  /// cut and their pending futures fail. True when everything ended gracefully:
  /// false when a session had to be cut, a peer dropped its link during the
  /// close, or (a client) its server was lost before. Called while another
  /// thread's close() or close_for() waits, it brings that wait's end forward
  /// to its own deadline when earlier (then returns the same outcome).
  ///
  /// `deadline` is a duration from now. Once the communicator is closed, it returns the first close's outcome at
  /// once.
  bool close_for(std::chrono::nanoseconds deadline);
  /// As close_for(std::chrono::nanoseconds), for any duration; one too long for nanoseconds waits without limit.
  template <class Rep, class Period>
  bool close_for(std::chrono::duration<Rep, Period> deadline) {
    return close_for(detail::saturate(deadline));
  }

  /// The peers connected now (a client: its server, once it said hello).
  std::vector<Id> peers() const;
  /// The counters now. Each field is read on its own: they are not one atomic snapshot.
  Statistics statistics() const;

 private:
  std::unique_ptr<detail::Core> core_;
};

/// The factory by names chosen at run time: make_communicator("tcp", "server").
/// Unknown names throw OptionError listing the valid ones.
///
/// As Communicator(parse_protocol(protocol), parse_purpose(purpose), options), with its exceptions.
/// @throws OptionError ("protocol" or "purpose") for an unknown name.
inline Communicator make_communicator(std::string_view protocol, std::string_view purpose, Options options = {}) {
  return Communicator(parse_protocol(protocol), parse_purpose(purpose), std::move(options));
}

}  // namespace netqueue
