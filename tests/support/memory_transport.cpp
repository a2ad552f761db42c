#include "support/memory_transport.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/session.hpp"
#include "netqueue/error.hpp"

namespace nqtest {
namespace {

using netqueue::Chunk;
using netqueue::Purpose;
using netqueue::detail::Hub;
using netqueue::detail::Session;
using Clock = std::chrono::steady_clock;

// One thread running tasks in order: the strand of every link of one transport.
class Executor {
 public:
  Executor() : thread_([this] { run(); }) {}
  ~Executor() { stop(); }

  // Queues `task`; dropped once the thread is gone.
  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      if (done_) return;
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }
  // Runs what is queued (and what that queues), then joins. Not from the thread itself.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return !tasks_.empty() || stopping_; });
      if (tasks_.empty()) break;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // releases what it held outside the lock
      lock.lock();
    }
    done_ = true;
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false, done_ = false;
  std::thread thread_;  // last: starts after the rest exists
};

// One end of an in-memory connection. Everything but the Link methods and
// unread_ runs on the owning transport's strand.
class MemoryLink final : public netqueue::detail::Link, public std::enable_shared_from_this<MemoryLink> {
 public:
  MemoryLink(std::shared_ptr<Executor> strand, std::size_t window, std::string remote,
             MemoryNetwork::BatchObserver observer)
      : strand_(std::move(strand)), window_(window), remote_(std::move(remote)), observer_(std::move(observer)) {}

  static void pair(const std::shared_ptr<MemoryLink>& a, const std::shared_ptr<MemoryLink>& b) {
    a->peer_ = b;  // the cycle is broken by finish() on each side
    b->peer_ = a;
  }

  void wake_send() override {
    post([](MemoryLink& l) { l.pump(); });
  }
  void wake_receive() override {
    post([](MemoryLink& l) { l.drain(); });
  }
  void close(bool graceful) override {
    post([graceful](MemoryLink& l) { l.begin_close(graceful, {}); });
  }
  std::string remote() const override { return remote_; }

  // ---- strand only ----
  void start(std::shared_ptr<Session> session) {
    session_ = std::move(session);
    if (closing_) return finish();
    drain();
    pump();
  }

  // graceful: the peer gets everything sent so far, then the end; else it is cut at once.
  void begin_close(bool graceful, const std::string& error) {
    if (closing_) return;
    closing_ = true;
    error_ = error;
    pending_.clear();
    if (peer_) peer_->post([graceful](MemoryLink& l) { l.on_peer_end(graceful); });
    finish();
  }

 private:
  struct Piece {
    Chunk bytes;
    bool end = false;  // the peer closed gracefully after the pieces before this one
  };

  template <class F>
  void post(F f) {
    strand_->post([self = shared_from_this(), f = std::move(f)] { f(*self); });
  }

  // Hands batches to the peer while its unread bytes are under the window.
  void pump() {
    while (session_ && !closing_) {
      if (peer_->unread_.load() >= window_) return;  // credit() wakes us
      auto batch = session_->next_batch();
      if (batch.empty()) return;  // wake_send follows
      if (observer_) observer_(batch);
      Chunk piece;
      if (batch.size() == 1) {
        piece = Chunk::copy_of(batch[0]);
      } else {
        std::size_t size = 0;
        for (const auto& b : batch) size += b.size();
        std::vector<std::byte> bytes(size);
        std::size_t at = 0;
        for (const auto& b : batch) {
          if (!b.empty()) std::memcpy(bytes.data() + at, b.data(), b.size());
          at += b.size();
        }
        piece = Chunk::adopt(std::move(bytes));
      }
      peer_->unread_.fetch_add(piece.size());
      peer_->post([piece](MemoryLink& l) { l.deliver(piece); });
      session_->on_sent();
    }
  }

  void deliver(const Chunk& piece) {
    if (closing_) return;
    pending_.push_back({piece, false});
    drain();
  }

  void on_peer_end(bool graceful) {
    if (closing_) return;
    if (!graceful) return begin_close(false, "the connection was reset by " + remote_);
    pending_.push_back({{}, true});
    drain();
  }

  // Feeds queued pieces to the session while it is receiving (kept while paused).
  void drain() {
    while (session_ && !closing_ && !pending_.empty()) {
      if (pending_.front().end) return begin_close(false, "the connection was closed by " + remote_);
      if (!session_->receiving()) return;  // paused: wake_receive resumes
      const Chunk piece = std::move(pending_.front().bytes);
      pending_.pop_front();
      session_->on_piece(piece);
      const std::size_t before = unread_.fetch_sub(piece.size());
      if (before >= window_ && before - piece.size() < window_ && peer_) peer_->wake_send();
    }
  }

  // Nothing is ever in flight here, so the session's end is reported at once.
  void finish() {
    peer_.reset();
    if (auto session = std::move(session_)) session->on_closed(error_);
  }

  const std::shared_ptr<Executor> strand_;
  const std::size_t window_;
  const std::string remote_;
  const MemoryNetwork::BatchObserver observer_;
  std::shared_ptr<MemoryLink> peer_;
  std::shared_ptr<Session> session_;
  std::deque<Piece> pending_;           // received, not yet taken by the session
  std::atomic<std::size_t> unread_{0};  // bytes posted to us and not taken (any thread)
  bool closing_ = false;
  std::string error_;
};

class MemoryTransport;

}  // namespace

struct MemoryNetwork::State {
  std::size_t window;
  BatchObserver observer;
  std::mutex mutex;
  std::map<std::uint16_t, MemoryTransport*> servers;  // listening
  unsigned connections = 0;
};

namespace {

class MemoryTransport final : public netqueue::detail::Transport {
 public:
  MemoryTransport(std::shared_ptr<MemoryNetwork::State> net, Purpose purpose, std::uint16_t port, Hub& hub)
      : net_(std::move(net)), purpose_(purpose), port_(port), hub_(hub) {
    // The maker is called by Core's constructor, so Core's options are ready.
    if (auto* core = dynamic_cast<netqueue::detail::Core*>(&hub)) timeout_ = core->options().connection.connect_timeout;
  }
  ~MemoryTransport() override { stop(); }

  void start() override {
    if (purpose_ == Purpose::server) {
      std::lock_guard lock(net_->mutex);
      if (!net_->servers.emplace(port_, this).second)
        throw netqueue::Error(netqueue::errc::transport, "memory port " + std::to_string(port_) + " is taken");
      return;
    }
    strand_->post([this, deadline = Clock::now() + timeout_] { connect(deadline); });
  }

  std::uint16_t port() const override { return port_; }

  void stop_accepting() override {
    stopping_ = true;
    std::lock_guard lock(net_->mutex);
    auto it = net_->servers.find(port_);
    if (it != net_->servers.end() && it->second == this) net_->servers.erase(it);
  }

  void stop() override {
    stop_accepting();  // no accept is posted to us after this
    strand_->post([this] {
      for (auto& weak : links_)
        if (auto link = weak.lock()) link->begin_close(false, {});
    });
    strand_->stop();
  }

 private:
  // Client, on the strand (which has nothing else to do before it connects):
  // pair up with the server, retrying every few milliseconds until the deadline.
  void connect(Clock::time_point deadline) {
    while (!stopping_) {
      if (auto link = pair_up()) return open(link);
      if (Clock::now() >= deadline)
        return hub_.connect_failed("no memory server on port " + std::to_string(port_) + " within " +
                                   std::to_string(timeout_.count()) + " ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  // A link pair with the listening server (whose end it opens on its strand), or null.
  std::shared_ptr<MemoryLink> pair_up() {
    std::lock_guard lock(net_->mutex);
    auto it = net_->servers.find(port_);
    if (it == net_->servers.end()) return nullptr;
    MemoryTransport* server = it->second;  // alive: it drains its strand after leaving the registry
    const std::string n = std::to_string(++net_->connections);
    auto mine = std::make_shared<MemoryLink>(strand_, net_->window, "memory:" + std::to_string(port_), net_->observer);
    auto theirs = std::make_shared<MemoryLink>(server->strand_, net_->window, "memory client #" + n, net_->observer);
    MemoryLink::pair(mine, theirs);
    server->strand_->post([server, theirs] { server->open(theirs); });
    return mine;
  }

  // Both, on the strand: a connection is up.
  void open(const std::shared_ptr<MemoryLink>& link) {
    std::erase_if(links_, [](const std::weak_ptr<MemoryLink>& w) { return w.expired(); });
    links_.push_back(link);
    auto session = purpose_ == Purpose::server && stopping_ ? nullptr : hub_.attach(link);
    if (!session) return link->begin_close(false, {});  // the communicator is closing
    link->start(std::move(session));
  }

  const std::shared_ptr<MemoryNetwork::State> net_;
  const Purpose purpose_;
  const std::uint16_t port_;
  Hub& hub_;
  std::chrono::milliseconds timeout_{30000};
  std::atomic<bool> stopping_{false};
  std::vector<std::weak_ptr<MemoryLink>> links_;  // strand only
  std::shared_ptr<Executor> strand_ = std::make_shared<Executor>();
};

}  // namespace

MemoryNetwork::MemoryNetwork(std::size_t window) : state_(std::make_shared<State>()) { state_->window = window; }
MemoryNetwork::~MemoryNetwork() = default;
void MemoryNetwork::observe_batches(BatchObserver observer) { state_->observer = std::move(observer); }

netqueue::detail::Core::TransportMaker MemoryNetwork::server(std::uint16_t port) {
  return
      [state = state_, port](Hub& hub) { return std::make_unique<MemoryTransport>(state, Purpose::server, port, hub); };
}

netqueue::detail::Core::TransportMaker MemoryNetwork::client(std::uint16_t port) {
  return
      [state = state_, port](Hub& hub) { return std::make_unique<MemoryTransport>(state, Purpose::client, port, hub); };
}

}  // namespace nqtest
