// Workers: the core's own threads (Options::workers of them, started on first
// use), running serial executors for transports whose libraries call back on
// threads of their own, and the session deadlines (hello, resume).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "core/transport.hpp"

namespace netqueue::detail {

class Workers {
 public:
  using clock = std::chrono::steady_clock;

  explicit Workers(unsigned threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // A serial executor over these threads. It may outlive them: what is posted
  // after stop() is dropped.
  std::shared_ptr<Executor> make_executor();
  // Runs `task` on a worker at `when` (not before). Dropped after stop().
  void at(clock::time_point when, std::function<void()> task);
  // Runs what is ready, drops timers not yet due, joins the threads.
  // Idempotent. Not from a worker thread.
  void stop();

 private:
  class Pool;
  class Strand;
  std::shared_ptr<Pool> pool_;
};

}  // namespace netqueue::detail
