// The messages a run exchanges: the same shuffled list of sizes on both sides,
// all of them views of one source buffer, and the check of what arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "config.hpp"
#include "netqueue/message.hpp"
#include "netqueue/stream.hpp"

namespace iops {

// A message that arrived differs from the one that was sent.
class CheckError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The longest message list a run may have (8 bytes per entry in memory).
inline constexpr std::uint64_t max_messages = 100'000'000;

// `count` messages of 2^exponent bytes.
struct SizeClass {
  int exponent = 0;
  std::uint64_t count = 0;
};

// One repetition of the mix, as iops.py: for i = min, min+step, ... below
// max, round((2^max / 2^i)^expo) messages of 2^i bytes, then one of 2^max
// bytes. A step of 0 gives the 2^max message only. Throws std::length_error
// when the run would have more than max_messages messages.
std::vector<SizeClass> size_classes(const Mix& mix);
// Messages in the whole run (all repetitions), for one direction of one client.
std::uint64_t message_count(const Mix& mix);
// The sizes in bytes of every message, repeated `reps` times and shuffled with
// a fixed seed, so that every process computes the same list.
std::vector<std::uint64_t> message_sizes(const Mix& mix);

// The 2^max bytes every message is a prefix of. The content is a pattern of
// position-dependent 64-bit words, so that a message shifted, truncated or
// mixed up with another one differs from the source where it is sampled.
class SourceBuffer {
 public:
  explicit SourceBuffer(std::uint64_t size);

  // The first `size` bytes (at most the buffer's), borrowed: no allocation of
  // message memory.
  netqueue::Stream view(std::uint64_t size) const;
  // Throws CheckError unless `message` is whole, `expected` bytes long and
  // equal to the source at a few sampled places (both ends and the middle);
  // `index` (the message's position in its peer's list) goes in the error.
  void check(const netqueue::Message& message, std::uint64_t expected, std::uint64_t index) const;

 private:
  std::unique_ptr<std::uint64_t[]> words_;
  std::uint64_t size_ = 0;
};

// The list and the buffer, shared read-only by every communicator of a process.
struct Workload {
  explicit Workload(const Mix& mix);

  std::vector<std::uint64_t> sizes;
  std::uint64_t payload_bytes = 0;  // the sum of sizes
  SourceBuffer source;
};

}  // namespace iops
