// SendState: the byte accounting behind put futures, one per session.
//
// Every byte queued on a session has an offset in its outgoing stream. A put's
// future is (state, end offset): done when `sent` reaches `end`, failed when
// the session failed before that. So a future costs no allocation, and one
// counter update resolves every put whose bytes went out.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>

#include "netqueue/id.hpp"

namespace netqueue::detail {

class SendState {
 public:
  SendState() = default;
  // A state that failed already (a put to a peer that is not there).
  explicit SendState(std::exception_ptr error) : failed_(true), error_(std::move(error)) {}

  // io thread: `n` more bytes were handed to the transport.
  void advance(std::uint64_t n) {
    // seq_cst pairs with wait_until: either it sees the new count, or we see its waiter.
    sent_.fetch_add(n, std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard lock(mutex_);
      cv_.notify_all();
    }
  }
  // Every byte not handed over yet fails with `error`. First call wins.
  void fail(std::exception_ptr error) {
    {
      std::lock_guard lock(mutex_);
      if (failed_.load(std::memory_order_relaxed)) return;
      error_ = std::move(error);
      failed_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
  }

  // The peer this state sends to (a client learns its server's id late).
  void set_peer(const Id& peer) {
    std::lock_guard lock(mutex_);
    peer_ = peer;
  }
  Id peer() const {
    std::lock_guard lock(mutex_);
    return peer_;
  }

  std::uint64_t sent() const noexcept { return sent_.load(std::memory_order_seq_cst); }

  // True when the bytes up to `end` are settled; `error` is set when they failed.
  bool settled(std::uint64_t end, std::exception_ptr* error) const {
    if (sent() >= end) return true;
    if (!failed_.load(std::memory_order_acquire)) return false;
    if (sent() >= end) return true;  // the last bytes went out just before the failure
    std::lock_guard lock(mutex_);
    if (error) *error = error_;
    return true;
  }

  // Waits until settled or `deadline`; false on timeout.
  bool wait_until(std::uint64_t end, std::chrono::steady_clock::time_point deadline) const {
    if (settled(end, nullptr)) return true;
    std::unique_lock lock(mutex_);
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    bool ok = cv_.wait_until(lock, deadline, [&] { return sent() >= end || failed_.load(std::memory_order_acquire); });
    waiters_.fetch_sub(1, std::memory_order_acq_rel);
    return ok;
  }

 private:
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<bool> failed_{false};
  mutable std::atomic<int> waiters_{0};
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::exception_ptr error_;
  Id peer_;
};

}  // namespace netqueue::detail
