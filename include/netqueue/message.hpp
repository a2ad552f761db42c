/// @file
/// Message: what get() returns.
#pragma once

#include <cstdint>
#include <optional>

#include "netqueue/id.hpp"
#include "netqueue/stream.hpp"

namespace netqueue {

/// Where a Message lies in the whole message it is a piece of.
///
/// Set on the pieces of a message larger than serialization.message_size,
/// which arrive as consecutive messages from the same peer, and on a message
/// cut short (truncated), to say where it stopped.
struct Part {
  std::uint64_t offset = 0;  ///< the offset of this part's first byte in the whole message
  std::uint64_t total = 0;   ///< the length the sender announced
  bool last = false;         ///< the final part (also set on a truncated one)
};

/// A received message, as Communicator::get() returns it.
///
/// It owns its bytes: they stay valid as long as `data` (or a chunk taken from it) exists, also after the
/// Communicator is gone. A small message's chunk shares the receive buffer it was cut from, which stays allocated
/// while the chunk does.
struct Message {
  Id peer;      ///< who sent it
  Stream data;  ///< its bytes; chunks share ownership of the receive buffers
  /// Set on a part of a message larger than serialization.message_size and on a truncated message; unset on a
  /// message delivered whole.
  std::optional<Part> part;
  /// The peer's session ended inside this message: `data` is what arrived of
  /// it (from `part->offset`, of `part->total` announced), and nothing more of
  /// it will come. One rule for every size: a message delivered whole as for
  /// one delivered in parts. Statistics::truncated counts these.
  bool truncated = false;
};

}  // namespace netqueue
