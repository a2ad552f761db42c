#include "core/workers.hpp"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace netqueue::detail {

// Threads, the strands ready to run and the timers. Shared with the strands,
// which may outlive the Workers.
class Workers::Pool {
 public:
  explicit Pool(unsigned threads) : threads_wanted_(threads) {}

  // False once stopped: the strand drops its tasks then.
  bool schedule(std::shared_ptr<Strand> strand) {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return false;
      ready_.push_back(std::move(strand));
      start_locked();
    }
    cv_.notify_one();
    return true;
  }

  void at(clock::time_point when, std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      timers_.emplace(when, std::move(task));
      start_locked();
    }
    cv_.notify_all();
  }

  void stop() {
    std::vector<std::thread> threads;
    std::multimap<clock::time_point, std::function<void()>> timers;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      timers.swap(timers_);
      threads.swap(threads_);
    }
    cv_.notify_all();
    for (auto& t : threads) t.join();
    std::deque<std::shared_ptr<Strand>> left;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      left.swap(ready_);
    }
    drop_all(left);
  }

 private:
  static void drop_all(std::deque<std::shared_ptr<Strand>>& strands);
  void start_locked() {
    if (!threads_.empty() || stopping_) return;
    for (unsigned i = 0; i < threads_wanted_; ++i) threads_.emplace_back([this] { run(); });
  }

  void run();

  const unsigned threads_wanted_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Strand>> ready_;
  std::multimap<clock::time_point, std::function<void()>> timers_;
  std::vector<std::thread> threads_;
  bool stopping_ = false;  // no new timers, threads leave once nothing is ready
  bool stopped_ = false;   // threads joined: nothing runs any more
};

// Tasks of one executor: at most one worker runs them at a time, in order.
class Workers::Strand final : public Executor, public std::enable_shared_from_this<Strand> {
 public:
  explicit Strand(std::shared_ptr<Pool> pool) : pool_(std::move(pool)) {}

  void post(std::function<void()> task) override {
    {
      std::lock_guard lock(mutex_);
      if (dropped_) return;
      tasks_.push_back(std::move(task));
      if (scheduled_) return;
      scheduled_ = true;
    }
    if (!pool_->schedule(shared_from_this())) drop();
  }

  // On a worker: runs a few tasks. True when more wait (schedule it again).
  bool run_some() {
    for (int i = 0; i < 64; ++i) {
      std::function<void()> task;
      {
        std::lock_guard lock(mutex_);
        if (tasks_.empty()) {
          scheduled_ = false;
          return false;
        }
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
    return true;
  }

  void drop() {
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mutex_);
      dropped_ = true;
      dropped.swap(tasks_);
    }
    // Destroyed here, outside the lock: they may hold what posts to us.
  }

 private:
  const std::shared_ptr<Pool> pool_;
  std::mutex mutex_;
  std::deque<std::function<void()>> tasks_;
  bool scheduled_ = false, dropped_ = false;
};

void Workers::Pool::drop_all(std::deque<std::shared_ptr<Strand>>& strands) {
  for (auto& s : strands) s->drop();
}

void Workers::Pool::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (!ready_.empty()) {
      auto strand = std::move(ready_.front());
      ready_.pop_front();
      lock.unlock();
      const bool more = strand->run_some();
      lock.lock();
      if (more) ready_.push_back(std::move(strand));
      continue;
    }
    if (!timers_.empty() && timers_.begin()->first <= clock::now()) {
      auto task = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      lock.unlock();
      task();
      task = nullptr;  // releases what it held outside the lock
      lock.lock();
      continue;
    }
    if (stopping_) return;
    if (timers_.empty()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, timers_.begin()->first);
    }
  }
}

Workers::Workers(unsigned threads) : pool_(std::make_shared<Pool>(threads)) {}
Workers::~Workers() { stop(); }
std::shared_ptr<Executor> Workers::make_executor() { return std::make_shared<Strand>(pool_); }
void Workers::at(clock::time_point when, std::function<void()> task) { pool_->at(when, std::move(task)); }
void Workers::stop() { pool_->stop(); }

}  // namespace netqueue::detail
