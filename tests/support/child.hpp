// A child process for tests (a Python peer, or this test program in
// another role): its stdout and stderr are collected, its stdin is ours, and
// it never outlives the test (killed by the destructor, or with its parent).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace nqtest {

class Child {
 public:
  // Runs argv[0] (a path) with argv, the environment plus `env` ("NAME=value").
  explicit Child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    // Everything exec needs is built before fork: the child may only call
    // async-signal-safe functions (this program has threads).
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_copy;
    for (char** e = environ; *e; ++e) env_copy.emplace_back(*e);
    for (auto& e : env) env_copy.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_copy) envp.push_back(e.data());
    envp.push_back(nullptr);

    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the test program
      if (::getppid() != parent) ::_exit(126);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(out[1], 2);
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(in[0]);
    stdin_ = in[1];
    reader_ = std::thread([this, fd = out[0]] {
      char buffer[4096];
      for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        std::lock_guard lock(mutex_);
        if (n <= 0) {
          eof_ = true;
          changed_.notify_all();
          break;
        }
        output_.append(buffer, static_cast<std::size_t>(n));
        changed_.notify_all();
      }
      ::close(fd);
    });
  }

  ~Child() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (stdin_ >= 0) ::close(stdin_);
    reader_.join();  // the pipe ends with the child (nothing else holds it)
  }

  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // True once `text` appeared in its output; false after `within`, or when it
  // ended without printing it.
  bool wait_for_output(std::string_view text, std::chrono::milliseconds within) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, within, [&] { return output_.find(text) != std::string::npos || eof_; }) &&
           output_.find(text) != std::string::npos;
  }

  std::string output() const {
    std::lock_guard lock(mutex_);
    return output_;
  }

  // Writes to its stdin.
  void send(std::string_view text) {
    ::signal(SIGPIPE, SIG_IGN);  // a child that died is reported by write, not by a signal
    while (!text.empty()) {
      const ssize_t n = ::write(stdin_, text.data(), text.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("the child's stdin is closed");
      text.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Its exit status once it ended (-1: killed by a signal); nullopt when it
  // was still running after `within` (it is killed then).
  std::optional<int> wait(std::chrono::milliseconds within) {
    if (status_) return status_;
    const auto until = std::chrono::steady_clock::now() + within;
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        // Its last output may still be in the pipe: read it before anyone
        // looks (bounded, as a process it started may hold the pipe open).
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, std::chrono::seconds(5), [&] { return eof_; });
        return status_;
      }
      if (std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    status_ = -1;
    return std::nullopt;
  }

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::optional<int> status_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string output_;
  bool eof_ = false;
  std::thread reader_;
};

}  // namespace nqtest
