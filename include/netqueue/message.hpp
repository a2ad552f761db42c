// Message: what get() returns.
#pragma once

#include <cstdint>
#include <optional>

#include "netqueue/id.hpp"
#include "netqueue/stream.hpp"

namespace netqueue {

// Set on the pieces of a message larger than serialization.message_size,
// which arrive as consecutive messages from the same peer.
struct Part {
  std::uint64_t offset = 0;  // of this part's first byte in the whole message
  std::uint64_t total = 0;   // the length the sender announced
  bool last = false;         // the final part (also set on a truncated one)
};

struct Message {
  Id peer;      // who sent it
  Stream data;  // its bytes; chunks share ownership of the receive buffers
  std::optional<Part> part;
  // The session ended before `part->total` bytes arrived: this is what came.
  bool truncated = false;
};

}  // namespace netqueue
