// BlockQueue: a FIFO of T in blocks that are never moved once written.
//
// A new block holds about as many elements as the queue already has, from
// First to Largest (powers of two): a shallow queue lives in small blocks, and
// a deep one pays its per-block costs (the link, the allocator's header) on
// Largest elements at a time. One emptied block of First elements is kept as
// the spare for the next push, so a steady flow allocates nothing and an
// idle queue holds at most two small blocks, whatever it held at its deepest.
// A burst touches its pages once (a doubling vector copies itself as it
// grows; std::deque allocates a node for every few elements). Not thread
// safe; swap() is O(1).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace netqueue::detail {

template <class T, std::size_t First, std::size_t Largest>
class BlockQueue {
  static_assert(std::has_single_bit(First) && std::has_single_bit(Largest) && First <= Largest);

 public:
  BlockQueue() = default;
  BlockQueue(const BlockQueue&) = delete;
  BlockQueue& operator=(const BlockQueue&) = delete;
  ~BlockQueue() {
    clear();
    free_chain(std::exchange(head_, nullptr));
    free_chain(std::exchange(spare_, nullptr));
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  // Bytes of the blocks held, the spare included.
  std::size_t reserved_bytes() const noexcept {
    std::size_t bytes = spare_ ? footprint(spare_->capacity) : 0;
    for (const Block* b = head_; b; b = b->next) bytes += footprint(b->capacity);
    return bytes;
  }

  void push_back(T&& value) {
    if (!tail_ || back_ == tail_->capacity) append_block();
    tail_->items()[back_++] = std::move(value);
    ++size_;
  }

  // The oldest element; the queue must not be empty.
  T& front() noexcept { return head_->items()[front_]; }

  // Drops the oldest element (left moved-from or as it is, reset to T{}).
  void pop_front() {
    head_->items()[front_++] = T{};
    if (--size_ == 0) {
      // Empty: a small block is kept for the next push, from its start.
      release(std::exchange(head_->next, nullptr));
      if (head_->capacity != First) {
        release(std::exchange(head_, nullptr));
        tail_ = nullptr;
      } else {
        tail_ = head_;
      }
      front_ = back_ = 0;
    } else if (front_ == head_->capacity) {
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
  // A header followed by `capacity` elements, in one allocation.
  struct alignas(alignof(T) > alignof(std::max_align_t) ? alignof(T) : alignof(std::max_align_t)) Block {
    Block* next = nullptr;
    std::size_t capacity;
    explicit Block(std::size_t n) : capacity(n) {}
    T* items() noexcept { return reinterpret_cast<T*>(this + 1); }
  };

  static constexpr std::size_t footprint(std::size_t capacity) noexcept {
    return sizeof(Block) + capacity * sizeof(T);
  }

  static_assert(alignof(Block) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "plain operator new must do");

  static Block* make(std::size_t capacity) {
    void* memory = ::operator new(footprint(capacity));
    Block* block = ::new (memory) Block(capacity);
    std::uninitialized_value_construct_n(block->items(), capacity);
    return block;
  }

  static void destroy(Block* block) noexcept {
    std::destroy_n(block->items(), block->capacity);
    block->~Block();
    ::operator delete(block);
  }

  void append_block() {
    const std::size_t wanted = std::clamp(std::bit_ceil(size_ + 1), First, Largest);
    Block* block = wanted == First && spare_ ? std::exchange(spare_, nullptr) : make(wanted);
    (tail_ ? tail_->next : head_) = block;
    tail_ = block;
    back_ = 0;
  }

  // One emptied block of First elements is kept as the spare; the rest are freed.
  void release(Block* block) noexcept {
    while (block) {
      Block* next = std::exchange(block->next, nullptr);
      if (!spare_ && block->capacity == First) {
        spare_ = block;
      } else {
        destroy(block);
      }
      block = next;
    }
  }

  static void free_chain(Block* block) noexcept {
    while (block) destroy(std::exchange(block, block->next));
  }

  Block* head_ = nullptr;
  Block* tail_ = nullptr;
  Block* spare_ = nullptr;
  std::size_t front_ = 0;  // next element to pop in head_
  std::size_t back_ = 0;   // next element to write in tail_
  std::size_t size_ = 0;
};

}  // namespace netqueue::detail
