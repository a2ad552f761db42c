// What the libFuzzer targets share: a failure that stops the run, the cutting
// of an input into pieces, a reference model of the wire format and a checker
// of the order in which parts of one message arrive.
#pragma once

#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "netqueue/message.hpp"
#include "stream/frame.hpp"

namespace nqfuzz {

// A broken invariant: says which, and aborts (libFuzzer saves the input).
[[noreturn]] inline void fail(const char* condition, const char* what, std::uint64_t a = 0, std::uint64_t b = 0) {
  std::fprintf(stderr, "\nnetqueue fuzz: INVARIANT BROKEN: %s\n  (%s; values %" PRIu64 ", %" PRIu64 ")\n", what,
               condition, a, b);
  std::fflush(stderr);
  std::abort();
}
// NQFUZZ_CHECK(condition, "what it means when broken", up to two values to print)
#define NQFUZZ_CHECK(condition, ...)                                         \
  do {                                                                       \
    if (!(condition)) ::nqfuzz::fail(#condition, __VA_ARGS__);               \
  } while (0)

using Bytes = std::span<const std::byte>;

// Piece sizes drawn from a seed: 1 to `max` bytes each (xorshift32).
class Cutter {
 public:
  Cutter(std::uint32_t seed, std::size_t max) : state_(seed * 2654435761u | 1u), max_(max ? max : 1) {}
  std::uint32_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }
  // SIZE_MAX as `max`: one piece (all that is left).
  std::size_t piece() { return max_ == SIZE_MAX ? max_ : 1 + next() % max_; }

 private:
  std::uint32_t state_;
  std::size_t max_;
};

// The largest piece for a 3-bit selector: single bytes to whole captures.
inline std::size_t max_piece(unsigned selector) {
  static constexpr std::size_t sizes[] = {1, 3, 9, 24, 100, 1000, 5000, 70000};
  return sizes[selector & 7];
}

inline std::uint64_t header_at(Bytes stream, std::size_t at) {
  return netqueue::detail::decode_frame_header(stream.data() + at);
}

// What the wire format says a receiver with `message_size` gets out of
// `stream` (SPEC.md, "Wire format" and "Bad input"): every frame of at most
// message_size bytes whole; a larger one in consecutive parts of at most
// message_size bytes, the last marked last; a stream that ends inside a frame
// ends "inside"; what came of a frame whose header was complete is delivered
// as a last part marked truncated (one rule for a whole message and a part).
struct Model {
  struct Frame {
    std::size_t at = 0;    // of its first byte in the stream
    std::size_t size = 0;  // payload bytes
    std::optional<netqueue::Part> part;
    bool truncated = false;
  };
  // One frame on the wire: where its header starts, where its body starts and
  // the length it announces (complete or not).
  struct Extent {
    std::size_t header = 0, body = 0;
    std::uint64_t length = 0;
  };
  std::vector<Frame> frames;    // complete frames and parts, in order
  std::vector<Extent> extents;  // every frame begun, the last maybe incomplete
  bool inside = false;          // the stream ends inside a frame (or a header)
  // The frame the stream ends in, when its header is complete: what came of
  // its current part, which must be delivered marked truncated, with a part
  // saying where it stopped.
  std::optional<Frame> tail;
  std::uint64_t message_size = 0;

  Model(Bytes stream, std::uint64_t ms) : message_size(ms) {
    std::size_t pos = 0;
    const std::size_t n = stream.size();
    while (pos < n) {
      if (n - pos < netqueue::detail::frame_header_size) {
        extents.push_back({pos, pos + netqueue::detail::frame_header_size, 0});
        inside = true;
        return;
      }
      const std::uint64_t length = header_at(stream, pos);
      const std::size_t body = pos + netqueue::detail::frame_header_size;
      extents.push_back({pos, body, length});
      pos = body;
      const bool parts = length > ms;
      std::uint64_t done = 0;
      do {
        const std::uint64_t size = std::min(length - done, ms);
        if (n - pos < size) {
          tail = Frame{pos, n - pos, netqueue::Part{done, length, true}, true};
          inside = true;
          return;
        }
        frames.push_back(
            Frame{pos, static_cast<std::size_t>(size),
                  parts ? std::optional(netqueue::Part{done, length, done + size == length}) : std::nullopt, false});
        pos += static_cast<std::size_t>(size);
        done += size;
      } while (done < length);
    }
  }

  // Where a receiver stands after the first `p` bytes of the stream.
  struct Position {
    bool boundary = true;                 // between frames
    std::optional<std::uint64_t> length;  // of the frame it is inside, once its header is in
    std::uint64_t expected = 0;           // bytes to the end of the current part (or frame)
  };
  Position at(std::size_t p) const {
    for (const Extent& e : extents) {
      if (p <= e.header) return {};
      if (p < e.body) return {false, std::nullopt, 0};
      if (p - e.body < e.length) {
        const std::uint64_t q = p - e.body;
        const std::uint64_t part_start = q / message_size * message_size;
        const std::uint64_t part = std::min(message_size, e.length - part_start);
        return {false, e.length, part - (q - part_start)};
      }
    }
    return {};
  }
};

// Parts of one message are consecutive, within their total, the last one
// marked last (or truncated); nothing else comes between them. A message cut
// short is one truncated part, whatever its size.
class PartOrder {
 public:
  explicit PartOrder(std::uint64_t message_size) : message_size_(message_size) {}
  void check(const std::optional<netqueue::Part>& part, std::size_t size, bool truncated) {
    if (!part) {
      NQFUZZ_CHECK(!open_, "a whole message arrived between the parts of another", next_, total_);
      NQFUZZ_CHECK(size <= message_size_, "a whole message larger than message_size", size, message_size_);
      return;
    }
    // A message that fits message_size has a part only when it was cut short.
    NQFUZZ_CHECK(part->total > message_size_ || (truncated && part->offset == 0),
                 "a part of a message that fits message_size", part->total, message_size_);
    NQFUZZ_CHECK(size <= message_size_, "a part larger than message_size", size, message_size_);
    NQFUZZ_CHECK(part->offset <= part->total && size <= part->total - part->offset, "a part beyond its total",
                 part->offset + size, part->total);
    if (open_) {
      NQFUZZ_CHECK(part->offset == next_ && part->total == total_, "parts not consecutive", part->offset, next_);
    } else {
      NQFUZZ_CHECK(part->offset == 0, "a message's first part does not start at offset 0", part->offset, part->total);
      total_ = part->total;
    }
    NQFUZZ_CHECK(size > 0 || truncated, "an empty part that is not truncated", part->offset, part->total);
    next_ = part->offset + size;
    if (next_ == total_) {
      NQFUZZ_CHECK(part->last, "the part that completes a message is not marked last", next_, total_);
      open_ = false;
    } else {
      NQFUZZ_CHECK(part->last == truncated, "a short part marked last without being truncated (or the reverse)",
                   next_, total_);
      open_ = !part->last;
    }
  }
  // Nothing more comes: no message may be left half delivered.
  void end() const { NQFUZZ_CHECK(!open_, "the stream ended with a message left in the middle", next_, total_); }

 private:
  const std::uint64_t message_size_;
  bool open_ = false;
  std::uint64_t next_ = 0, total_ = 0;
};

// FNV-1a over a stream's bytes, chunk by chunk.
inline std::uint64_t digest(const netqueue::Stream& data) {
  std::uint64_t h = 1469598103934665603ull;
  for (const netqueue::Chunk& c : data)
    for (std::byte b : c.bytes()) h = (h ^ static_cast<std::uint8_t>(b)) * 1099511628211ull;
  return h;
}

// True when `data` holds exactly stream[at, at + size).
inline bool same_bytes(const netqueue::Stream& data, Bytes stream, std::size_t at, std::size_t size) {
  if (data.size() != size || at > stream.size() || size > stream.size() - at) return false;
  std::size_t pos = at;
  for (const netqueue::Chunk& c : data) {
    if (!c.empty() && std::memcmp(c.data(), stream.data() + pos, c.size()) != 0) return false;
    pos += c.size();
  }
  return true;
}

}  // namespace nqfuzz
