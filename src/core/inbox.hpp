// Inbox: received messages waiting for get(), from every peer, FIFO per peer.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "netqueue/message.hpp"

namespace netqueue::detail {

class Session;

class Inbox {
 public:
  struct Entry {
    Message message;
    std::shared_ptr<Session> from;  // credited back when the message leaves the inbox
  };
  using clock = std::chrono::steady_clock;

  // Limit on queued messages (nullopt: none) and which one to drop past it.
  Inbox(std::optional<std::size_t> limit, bool drop_oldest) : limit_(limit), drop_oldest_(drop_oldest) {}

  // Moves `messages` (received from `from`) in, leaving the vector empty;
  // returns the entries dropped by the limit (to credit and report).
  std::vector<Entry> push(const std::shared_ptr<Session>& from, std::vector<Message>& messages);
  // Moves the next message into `out` and returns the session it came from;
  // waits until `deadline`. Throws the close error once empty and closed;
  // null (and `out` untouched) on timeout.
  std::shared_ptr<Session> pop(clock::time_point deadline, std::optional<Message>& out);
  // No more messages will come; get() drains, then throws `error`. First call wins.
  void close(std::exception_ptr error);
  std::size_t size() const;

 private:
  const std::optional<std::size_t> limit_;
  const bool drop_oldest_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  std::exception_ptr closed_;
  int waiters_ = 0;
};

}  // namespace netqueue::detail
