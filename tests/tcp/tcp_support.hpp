// Helpers of the TCP transport tests: a capturing log hook, peer events, a
// server-side "tap" that sorts received messages by peer, and a bystander
// (a well-behaved netqueue client that must not notice a bad peer).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <netqueue/netqueue.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/helpers.hpp"
#include "tcp/raw_socket.hpp"

namespace nqtest {

using ms = std::chrono::milliseconds;

inline const TransportCase& plain_tcp() {
  static const TransportCase c{"tcp", netqueue::Protocol::tcp, false};
  return c;
}
inline const TransportCase& tls_tcp() {
  static const TransportCase c{"tcp_tls", netqueue::Protocol::tcp, true};
  return c;
}

// Polls `pred` until true or `timeout`.
template <class Pred>
bool eventually(Pred&& pred, ms timeout, ms step = ms(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

inline std::string text_of(const netqueue::Message& m) { return m.data.to_string(); }

// A log hook that keeps every line; tests wait for the line they expect.
class LogCapture {
 public:
  struct Entry {
    netqueue::LogLevel level;
    std::string text;
  };

  // The hook shares the capture's state, so it may outlive the LogCapture.
  netqueue::LogHook hook() const {
    auto state = state_;
    return [state](netqueue::LogLevel level, std::string_view text) {
      {
        std::lock_guard lock(state->mutex);
        state->entries.push_back({level, std::string(text)});
      }
      state->cv.notify_all();
    };
  }

  // Waits until a line at `min_level` or above contains every one of `needles`.
  bool wait_for(netqueue::LogLevel min_level, std::initializer_list<std::string_view> needles, ms timeout) const {
    const std::vector<std::string_view> want(needles);
    std::unique_lock lock(state_->mutex);
    return state_->cv.wait_for(lock, timeout, [&] {
      for (const Entry& e : state_->entries) {
        if (e.level < min_level) continue;
        bool all = true;
        for (std::string_view n : want) all = all && e.text.find(n) != std::string::npos;
        if (all) return true;
      }
      return false;
    });
  }
  bool contains(netqueue::LogLevel min_level, std::initializer_list<std::string_view> needles) const {
    return wait_for(min_level, needles, ms(0));
  }
  std::size_t count(netqueue::LogLevel min_level) const {
    std::lock_guard lock(state_->mutex);
    std::size_t n = 0;
    for (const Entry& e : state_->entries) n += e.level >= min_level;
    return n;
  }
  // Every line, for failure messages.
  std::string dump() const {
    std::lock_guard lock(state_->mutex);
    std::string out = "log:\n";
    for (const Entry& e : state_->entries)
      out += "  [" + std::string(netqueue::to_string(e.level)) + "] " + e.text + "\n";
    return out;
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<Entry> entries;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Records on_peer_joined / on_peer_left.
class PeerEvents {
 public:
  void install(netqueue::Options& o) const {
    auto state = state_;
    o.on_peer_joined = [state](const netqueue::Id& id) { state->add(state->joined, id); };
    o.on_peer_left = [state](const netqueue::Id& id) { state->add(state->left, id); };
  }
  bool wait_joined(const netqueue::Id& id, ms timeout) const { return state_->wait(state_->joined, id, timeout); }
  bool wait_left(const netqueue::Id& id, ms timeout) const { return state_->wait(state_->left, id, timeout); }
  std::size_t joined_count(const netqueue::Id& id) const { return state_->count(state_->joined, id); }
  std::size_t left_count(const netqueue::Id& id) const { return state_->count(state_->left, id); }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<netqueue::Id> joined, left;
    void add(std::vector<netqueue::Id>& v, const netqueue::Id& id) {
      {
        std::lock_guard lock(mutex);
        v.push_back(id);
      }
      cv.notify_all();
    }
    bool wait(const std::vector<netqueue::Id>& v, const netqueue::Id& id, ms timeout) {
      std::unique_lock lock(mutex);
      return cv.wait_for(lock, timeout, [&] { return std::find(v.begin(), v.end(), id) != v.end(); });
    }
    std::size_t count(const std::vector<netqueue::Id>& v, const netqueue::Id& id) {
      std::lock_guard lock(mutex);
      return static_cast<std::size_t>(std::count(v.begin(), v.end(), id));
    }
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Takes messages off a server and sorts them by peer, so that a test can wait
// for one peer's messages while another peer's keep arriving.
class Tap {
 public:
  explicit Tap(netqueue::Communicator& server) : server_(server) {}

  // The next message from `peer`, or nullopt after `timeout`.
  std::optional<netqueue::Message> next_from(const netqueue::Id& peer, ms timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto& q = pending_[peer];
      if (!q.empty()) {
        netqueue::Message m = std::move(q.front());
        q.pop_front();
        return m;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return std::nullopt;
      auto m = server_.get_for(deadline - now);
      if (!m) return std::nullopt;
      const netqueue::Id from = m->peer;
      pending_[from].push_back(std::move(*m));
    }
  }

  // Everything received from `peer` so far, waiting `settle` for stragglers.
  std::vector<netqueue::Message> all_from(const netqueue::Id& peer, ms settle = ms(100)) {
    while (auto m = server_.get_for(settle)) {
      const netqueue::Id from = m->peer;
      pending_[from].push_back(std::move(*m));
    }
    std::vector<netqueue::Message> out;
    for (auto& m : pending_[peer]) out.push_back(std::move(m));
    pending_[peer].clear();
    return out;
  }

 private:
  netqueue::Communicator& server_;
  std::map<netqueue::Id, std::deque<netqueue::Message>> pending_;
};

// A well-behaved client of `server`. Tests have it exchange messages before
// and after a bad peer shows up, and check that everything arrives.
class Bystander {
 public:
  Bystander(netqueue::Communicator& server, Tap& tap, netqueue::Options options)
      : server_(server), tap_(tap), client(netqueue::Protocol::tcp, netqueue::Purpose::client, std::move(options)) {}

  // Puts `n` small messages tagged `tag` and one of 300 KB, waiting for every
  // future. The server does not take them yet (see expect_received).
  void send(const std::string& tag, int n) {
    std::vector<netqueue::SendFuture> futures;
    for (int i = 0; i < n; ++i) futures.push_back(client.put(text(tag + "#" + std::to_string(i))));
    futures.push_back(client.put(netqueue::Stream::adopt(big(tag))));
    for (auto& f : futures) {
      ASSERT_TRUE(f.wait_for(ms(20000))) << "bystander put of " << tag << " never resolved";
      ASSERT_NO_THROW(f.get()) << "bystander put of " << tag << " failed";
    }
  }

  // The server gets the `n` + 1 messages that send(tag, n) put, in order, whole.
  void expect_received(const std::string& tag, int n) {
    for (int i = 0; i <= n; ++i) {
      auto m = tap_.next_from(client.id(), ms(20000));
      ASSERT_TRUE(m) << "the server did not get bystander message " << tag << " #" << i;
      EXPECT_FALSE(m->part.has_value());
      EXPECT_FALSE(m->truncated);
      if (i < n) {
        EXPECT_EQ(text_of(*m), tag + "#" + std::to_string(i));
      } else {
        EXPECT_TRUE(m->data.to_bytes() == big(tag)) << "bystander's large message " << tag << " differs";
      }
    }
  }

  // The server answers on its own: one message to this client, which gets it.
  void round_trip(const std::string& tag) {
    ASSERT_NO_FATAL_FAILURE(send(tag, 3));
    ASSERT_NO_FATAL_FAILURE(expect_received(tag, 3));
    auto f = server_.put(text("reply " + tag), client.id());
    ASSERT_TRUE(f.wait_for(ms(20000)));
    ASSERT_NO_THROW(f.get());
    auto m = client.get_for(ms(20000));
    ASSERT_TRUE(m) << "the bystander got no reply to " << tag;
    EXPECT_EQ(text_of(*m), "reply " + tag);
    EXPECT_EQ(m->peer, server_.id());
  }

 private:
  static std::vector<std::byte> big(const std::string& tag) {
    return pattern(300 * 1000, static_cast<std::uint32_t>(std::hash<std::string>{}(tag)));
  }

  netqueue::Communicator& server_;
  Tap& tap_;

 public:
  netqueue::Communicator client;
};

}  // namespace nqtest
