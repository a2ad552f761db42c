// BlockQueue: a FIFO of T in blocks of N that are never moved once written.
// An emptied block is kept as the spare for the next push, so a steady flow
// allocates nothing and a burst touches its pages once (a doubling vector
// copies itself as it grows; std::deque allocates a node for every few
// elements). Not thread safe; swap() is O(1).
#pragma once

#include <array>
#include <cstddef>
#include <utility>

namespace netqueue::detail {

template <class T, std::size_t N>
class BlockQueue {
 public:
  BlockQueue() = default;
  BlockQueue(const BlockQueue&) = delete;
  BlockQueue& operator=(const BlockQueue&) = delete;
  ~BlockQueue() {
    clear();
    release(std::exchange(head_, nullptr));
    delete std::exchange(spare_, nullptr);
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  void push_back(T&& value) {
    if (!tail_ || back_ == N) {
      Block* block = spare_ ? std::exchange(spare_, nullptr) : new Block;
      (tail_ ? tail_->next : head_) = block;
      tail_ = block;
      back_ = 0;
    }
    tail_->items[back_++] = std::move(value);
    ++size_;
  }

  // The oldest element; the queue must not be empty.
  T& front() noexcept { return head_->items[front_]; }

  // Drops the oldest element (left moved-from or as it is, reset to T{}).
  void pop_front() {
    head_->items[front_++] = T{};
    if (--size_ == 0) {
      // Empty: keep the block for the next push, from its start.
      release(std::exchange(head_->next, nullptr));
      tail_ = head_;
      front_ = back_ = 0;
    } else if (front_ == N) {
      Block* done = std::exchange(head_, head_->next);
      done->next = nullptr;
      release(done);
      front_ = 0;
    }
  }

  void clear() {
    while (!empty()) pop_front();
  }

  void swap(BlockQueue& other) noexcept {
    std::swap(head_, other.head_);
    std::swap(tail_, other.tail_);
    std::swap(spare_, other.spare_);
    std::swap(front_, other.front_);
    std::swap(back_, other.back_);
    std::swap(size_, other.size_);
  }

 private:
  struct Block {
    std::array<T, N> items{};
    Block* next = nullptr;
  };

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
  std::size_t front_ = 0;  // next element to pop in head_
  std::size_t back_ = 0;   // next element to write in tail_
  std::size_t size_ = 0;
};

}  // namespace netqueue::detail
