#include "core/inbox.hpp"

namespace netqueue::detail {

std::vector<Inbox::Entry> Inbox::push(std::vector<Entry>&& entries) {
  std::vector<Entry> dropped;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    for (Entry& e : entries) {
      if (limit_ && queue_.size() >= *limit_) {
        if (!drop_oldest_) {
          dropped.push_back(std::move(e));
          continue;
        }
        dropped.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queue_.push_back(std::move(e));
    }
    wake = waiters_ > 0;
  }
  entries.clear();
  if (wake) cv_.notify_all();
  return dropped;
}

std::optional<Inbox::Entry> Inbox::pop(clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  if (queue_.empty() && !closed_) {
    ++waiters_;
    cv_.wait_until(lock, deadline, [&] { return !queue_.empty() || closed_; });
    --waiters_;
  }
  if (!queue_.empty()) {
    Entry e = std::move(queue_.front());
    queue_.pop_front();
    return e;
  }
  if (closed_) std::rethrow_exception(closed_);
  return std::nullopt;
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
