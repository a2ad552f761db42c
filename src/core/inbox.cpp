#include "core/inbox.hpp"

namespace netqueue::detail {

std::vector<Inbox::Entry> Inbox::push(const std::shared_ptr<Session>& from, std::vector<Message>& messages) {
  std::vector<Entry> dropped;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    for (Message& m : messages) {
      if (limit_ && queue_.size() >= *limit_) {
        if (!drop_oldest_) {
          dropped.push_back({std::move(m), from});
          continue;
        }
        dropped.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queue_.push_back({std::move(m), from});
    }
    wake = waiters_ > 0;
  }
  messages.clear();
  if (wake) cv_.notify_all();
  return dropped;
}

std::shared_ptr<Session> Inbox::pop(clock::time_point deadline, std::optional<Message>& out) {
  std::unique_lock lock(mutex_);
  if (queue_.empty() && !closed_) {
    ++waiters_;
    cv_.wait_until(lock, deadline, [&] { return !queue_.empty() || closed_; });
    --waiters_;
  }
  if (!queue_.empty()) {
    out.emplace(std::move(queue_.front().message));
    auto from = std::move(queue_.front().from);
    queue_.pop_front();
    return from;
  }
  if (closed_) std::rethrow_exception(closed_);
  return nullptr;
}

void Inbox::close(std::exception_ptr error) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = std::move(error);
  }
  cv_.notify_all();
}

std::size_t Inbox::size() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace netqueue::detail
