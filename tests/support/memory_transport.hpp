// An in-process transport for testing the core without sockets, like nng's
// inproc: a MemoryNetwork is a registry of servers by port number, and its
// makers build transports for netqueue::detail::Core:
//
//   nqtest::MemoryNetwork network;
//   netqueue::detail::Core server(netqueue::Protocol::tcp /*label only*/, netqueue::Purpose::server,
//                                 options, network.server(1));
//
// Each transport runs one thread of its own, the strand of all its links. A
// link is one end of a pair: a batch taken from a session is copied into one
// Chunk and posted to the peer's thread, which hands it to its session with
// on_piece while the session is receiving. Flow control: a sender takes no
// new batch while `window` bytes it sent are not yet taken by the peer's
// session, so a paused receiver holds the sender's put futures back as TCP
// would. A client whose server is not there retries every few milliseconds
// until its connect_timeout, then reports Hub::connect_failed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "core/core.hpp"

namespace nqtest {

class MemoryNetwork {
 public:
  struct State;  // shared with the transports it made

  explicit MemoryNetwork(std::size_t window = 64 * 1024);
  ~MemoryNetwork();
  MemoryNetwork(const MemoryNetwork&) = delete;
  MemoryNetwork& operator=(const MemoryNetwork&) = delete;

  // Sees every batch a session hands over, on the transport's thread, before
  // it is copied: the buffers point into the memory the library sends from.
  // Set it before making transports.
  using BatchObserver = std::function<void(std::span<const std::span<const std::byte>>)>;
  void observe_batches(BatchObserver observer);

  // A server listening on `port` (its start() throws netqueue::Error when the port is taken).
  netqueue::detail::Core::TransportMaker server(std::uint16_t port);
  // A client of the server on `port`, which may not exist yet.
  netqueue::detail::Core::TransportMaker client(std::uint16_t port);

 private:
  std::shared_ptr<State> state_;
};

}  // namespace nqtest
