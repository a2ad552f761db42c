#include "workload.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <span>
#include <string>

namespace iops {

namespace {

std::length_error too_many_messages() {
  return std::length_error("the message mix has more than " + std::to_string(max_messages) +
                           " messages; lower --max-size, --step-expo or --reps");
}

}  // namespace

std::vector<SizeClass> size_classes(const Mix& mix) {
  std::vector<SizeClass> classes;
  if (mix.step_size > 0) {
    for (int i = mix.min_size; i < mix.max_size; i += mix.step_size) {
      // std::nearbyint rounds half to even, as Python's round() does. Checked
      // as a double first: (2^max / 2^i)^expo can be far beyond 64 bits.
      const double count = std::nearbyint(std::pow(std::ldexp(1.0, mix.max_size - i), mix.step_expo));
      if (count > static_cast<double>(max_messages)) throw too_many_messages();
      if (count >= 1) classes.push_back({i, static_cast<std::uint64_t>(count)});
    }
  }
  classes.push_back({mix.max_size, 1});

  std::uint64_t per_rep = 0;  // at most a few dozen classes of at most max_messages each
  for (const SizeClass& c : classes) per_rep += c.count;
  if (mix.reps > 0 && per_rep > max_messages / mix.reps) throw too_many_messages();
  return classes;
}

std::uint64_t message_count(const Mix& mix) {
  std::uint64_t count = 0;
  for (const SizeClass& c : size_classes(mix)) count += c.count;
  return count * mix.reps;
}

std::vector<std::uint64_t> message_sizes(const Mix& mix) {
  std::vector<std::uint64_t> sizes;
  sizes.reserve(message_count(mix));
  const std::vector<SizeClass> classes = size_classes(mix);
  for (std::uint64_t rep = 0; rep < mix.reps; ++rep) {
    for (const SizeClass& c : classes) sizes.insert(sizes.end(), c.count, std::uint64_t{1} << c.exponent);
  }
  // Same seed in every process: client and server expect the same order.
  std::mt19937_64 random(0);
  std::shuffle(sizes.begin(), sizes.end(), random);
  return sizes;
}

SourceBuffer::SourceBuffer(std::uint64_t size) : size_(size) {
  const std::uint64_t count = std::max<std::uint64_t>(1, (size + 7) / 8);
  words_ = std::make_unique_for_overwrite<std::uint64_t[]>(count);
  // Distinct words at every position (a multiplicative hash of the index):
  // no period for a shifted view to line up with.
  for (std::uint64_t i = 0; i < count; ++i) words_[i] = (i + 1) * 0x9E3779B97F4A7C15ULL;
}

netqueue::Stream SourceBuffer::view(std::uint64_t size) const {
  if (size > size_) throw std::out_of_range("a message larger than the source buffer");
  return netqueue::Stream::borrow(std::span(reinterpret_cast<const std::byte*>(words_.get()), size));
}

namespace {

// Copies bytes [offset, offset + out.size()) of `stream` into `out`, walking
// its chunks (a message may arrive as several); the stream must hold them.
void read_at(const netqueue::Stream& stream, std::uint64_t offset, std::span<std::byte> out) {
  std::uint64_t chunk_start = 0;
  std::size_t copied = 0;
  for (const netqueue::Chunk& chunk : stream) {
    if (copied == out.size()) break;
    const std::uint64_t chunk_end = chunk_start + chunk.size();
    const std::uint64_t want = offset + copied;
    if (want < chunk_end) {
      const std::uint64_t from = want - chunk_start;
      const std::size_t count = std::min<std::uint64_t>(chunk.size() - from, out.size() - copied);
      std::memcpy(out.data() + copied, chunk.data() + from, count);
      copied += count;
    }
    chunk_start = chunk_end;
  }
}

std::string describe(const netqueue::Message& message, std::uint64_t index, std::uint64_t expected) {
  return "message #" + std::to_string(index) + " (" + std::to_string(expected) + " bytes) from " + message.peer.str() +
         ": ";
}

}  // namespace

void SourceBuffer::check(const netqueue::Message& message, std::uint64_t expected, std::uint64_t index) const {
  if (message.part || message.truncated) throw CheckError(describe(message, index, expected) + "arrived in parts");
  const std::uint64_t size = message.data.size();
  if (size != expected) {
    throw CheckError(describe(message, index, expected) + "got " + std::to_string(size) + " bytes");
  }
  // Up to 8 bytes at the start, the middle and the end: cheap enough for
  // millions of small messages, and it catches shifted or swapped data.
  constexpr std::uint64_t sample = 8;
  const std::uint64_t tail = size - std::min(sample, size);
  const auto* source = reinterpret_cast<const std::byte*>(words_.get());
  for (const std::uint64_t offset : {std::uint64_t{0}, size / 2, tail}) {
    std::array<std::byte, sample> got{};
    const std::size_t count = std::min(sample, size - offset);
    read_at(message.data, offset, std::span(got).first(count));
    if (std::memcmp(got.data(), source + offset, count) != 0) {
      throw CheckError(describe(message, index, expected) + "content differs from what was sent near byte " +
                       std::to_string(offset));
    }
  }
}

Workload::Workload(const Mix& mix) : sizes(message_sizes(mix)), source(std::uint64_t{1} << mix.max_size) {
  for (const std::uint64_t size : sizes) payload_bytes += size;
}

}  // namespace iops
