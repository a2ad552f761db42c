// PutQueue: the messages a session has queued and not yet handed to its
// batcher, first in first out, 32 bytes each.
//
// A put of one buffer (the common case) is kept as its Chunk in a
// BlockQueue: a burst of a million puts costs 32 MB (plus at most 64 KiB of
// the last block's room) and its pages are touched once. (A vector of
// Streams cost 80 bytes a put, up to 240 while it doubled, and its growth,
// copies and page faults were more than half of a put thread's time.) A
// Stream of many chunks is kept out of line. Not thread safe; swap() is O(1).
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include "core/block_queue.hpp"
#include "netqueue/stream.hpp"

namespace netqueue::detail {

class PutQueue {
 public:
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  void push(Stream&& message) { entries_.push_back(pack(std::move(message))); }
  // The oldest message; the queue must not be empty.
  Stream pop() {
    Chunk entry = std::move(entries_.front());
    entries_.pop_front();
    return unpack(std::move(entry));
  }
  void clear() { entries_.clear(); }
  void swap(PutQueue& other) noexcept { entries_.swap(other.entries_); }

 private:
  // A Stream of many chunks, held out of line; its entry's data points here.
  static inline const std::byte many_marker{};

  static Chunk pack(Stream&& message) {
    if (message.chunks() == 1) return message.read();
    if (message.chunks() == 0) return Chunk();
    auto held = std::make_shared<Stream>(std::move(message));
    const std::size_t bytes = held->size();
    return Chunk::adopt(std::move(held), {&many_marker, bytes});
  }
  static Stream unpack(Chunk entry) {
    if (entry.data() == &many_marker)
      return std::move(*static_cast<Stream*>(const_cast<void*>(entry.owner().get())));
    if (entry.data() == nullptr && entry.empty()) return Stream();
    return Stream(std::move(entry));
  }

  BlockQueue<Chunk, 128, 2048> entries_;  // 4 KiB to 64 KiB blocks
};

}  // namespace netqueue::detail
