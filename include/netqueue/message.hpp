// Message: what get() returns.
#pragma once

#include <cstdint>
#include <optional>

#include "netqueue/id.hpp"
#include "netqueue/stream.hpp"

namespace netqueue {

// Set on the pieces of a message larger than serialization.message_size,
// which arrive as consecutive messages from the same peer, and on a message
// cut short (truncated), to say where it stopped.
struct Part {
  std::uint64_t offset = 0;  // of this part's first byte in the whole message
  std::uint64_t total = 0;   // the length the sender announced
  bool last = false;         // the final part (also set on a truncated one)
};

struct Message {
  Id peer;      // who sent it
  Stream data;  // its bytes; chunks share ownership of the receive buffers
  std::optional<Part> part;
  // The peer's session ended inside this message: `data` is what arrived of
  // it (from `part->offset`, of `part->total` announced), and nothing more of
  // it will come. One rule for every size: a message delivered whole as for
  // one delivered in parts. Statistics::truncated counts these.
  bool truncated = false;
};

}  // namespace netqueue
