// PutQueue: the messages a session has queued and not yet handed to its
// batcher, first in first out, 32 bytes each.
//
// A put of one buffer (the common case) is kept as its Chunk, in blocks of
// 128 that are never moved or copied once written: a burst of a million
// puts costs 32 MB and its pages are touched once. (A vector of Streams cost
// 80 bytes a put, up to 240 while it doubled, and its growth, copies and
// page faults were more than half of a put thread's time.) A Stream of many
// chunks is kept out of line. Not thread safe; swap() is O(1).
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <utility>

#include "netqueue/stream.hpp"

namespace netqueue::detail {

class PutQueue {
 public:
  PutQueue() = default;
  PutQueue(const PutQueue&) = delete;
  PutQueue& operator=(const PutQueue&) = delete;
  ~PutQueue() { clear(); }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  void push(Stream&& message) {
    if (!tail_ || back_ == block_size) {
      Block* block = spare_ ? std::exchange(spare_, nullptr) : new Block;
      (tail_ ? tail_->next : head_) = block;
      tail_ = block;
      back_ = 0;
    }
    tail_->entries[back_++] = pack(std::move(message));
    ++size_;
  }

  // The oldest message; the queue must not be empty.
  Stream pop() {
    Chunk entry = std::move(head_->entries[front_++]);
    if (--size_ == 0) {
      // Empty: keep the block for the next push, from its start.
      release(head_->next);
      head_->next = nullptr;
      tail_ = head_;
      front_ = back_ = 0;
    } else if (front_ == block_size) {
      Block* done = std::exchange(head_, head_->next);
      done->next = nullptr;
      release(done);
      front_ = 0;
    }
    return unpack(std::move(entry));
  }

  void clear() {
    while (!empty()) pop();
    release(std::exchange(head_, nullptr));
    tail_ = nullptr;
    delete std::exchange(spare_, nullptr);
  }

  void swap(PutQueue& other) noexcept {
    std::swap(head_, other.head_);
    std::swap(tail_, other.tail_);
    std::swap(spare_, other.spare_);
    std::swap(front_, other.front_);
    std::swap(back_, other.back_);
    std::swap(size_, other.size_);
  }

 private:
  static constexpr std::size_t block_size = 128;
  struct Block {
    std::array<Chunk, block_size> entries;
    Block* next = nullptr;
  };

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

  // One emptied block is kept as the spare; the rest are freed.
  void release(Block* block) {
    while (block) {
      Block* next = std::exchange(block->next, nullptr);
      if (!spare_) {
        spare_ = block;
      } else {
        delete block;
      }
      block = next;
    }
  }

  Block* head_ = nullptr;
  Block* tail_ = nullptr;
  Block* spare_ = nullptr;
  std::size_t front_ = 0;  // next entry to pop in head_
  std::size_t back_ = 0;   // next entry to write in tail_
  std::size_t size_ = 0;
};

}  // namespace netqueue::detail
