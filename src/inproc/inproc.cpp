// inproc transport: a link is one end of an in-memory pair. Pieces are taken
// from the session as owned chunks (the sender's adopted memory shared, not
// copied; merged and borrowed bytes copied once, so the receiver never sees
// memory that dies when the sender's future resolves) and posted to the
// peer's executor, which hands them up. Acknowledged when handed to the peer.
//
// Flow control: a sender takes no new piece while two pieces' worth of bytes
// (2 x its connection.max_size) it sent are not yet taken by the peer's
// session, so a receiver paused by its receive bound holds the sender's
// futures back as TCP would.
#include "inproc/inproc.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

namespace netqueue::detail {
namespace {

using Clock = std::chrono::steady_clock;

class InprocTransport;

// Listening servers by endpoint, for the whole process.
struct Registry {
  std::mutex mutex;
  std::condition_variable changed;  // a server appeared
  std::map<std::pair<std::string, std::uint16_t>, InprocTransport*> servers;

  static Registry& get() {
    static Registry registry;
    return registry;
  }
};

class InprocLink final : public Link, public std::enable_shared_from_this<InprocLink> {
 public:
  InprocLink(std::shared_ptr<Executor> executor, std::size_t max_size, std::string remote)
      : executor_(std::move(executor)), window_(2 * max_size), remote_(std::move(remote)) {}

  static void pair(const std::shared_ptr<InprocLink>& a, const std::shared_ptr<InprocLink>& b) {
    a->peer_ = b;  // the cycle is broken by finish() on each side
    b->peer_ = a;
  }

  void wake_send() override {
    post([](InprocLink& l) { l.pump(); });
  }
  void wake_receive() override {
    post([](InprocLink& l) { l.drain(); });
  }
  void close(bool graceful) override {
    post([graceful](InprocLink& l) { l.begin_close(graceful, {}); });
  }
  std::string remote() const override { return remote_; }

  // Starts moving pieces for `pipe` on the link's executor; `done` runs once it detached.
  void post_start(std::shared_ptr<Pipe> pipe, std::function<void()> done) {
    post([pipe = std::move(pipe), done = std::move(done)](InprocLink& l) mutable {
      l.start(std::move(pipe), std::move(done));
    });
  }

  // ---- the link's executor only ----
  void start(std::shared_ptr<Pipe> pipe, std::function<void()> done) {
    pipe_ = std::move(pipe);
    done_ = std::move(done);
    if (closing_) return finish();
    drain();
    pump();
  }

  // graceful: the peer gets every piece sent so far, then the end; else it is cut at once.
  void begin_close(bool graceful, const std::string& error) {
    if (closing_) return;
    closing_ = true;
    error_ = error;
    pending_.clear();
    if (peer_) peer_->post([graceful](InprocLink& l) { l.on_peer_end(graceful); });
    finish();
  }

 private:
  struct Piece {
    Stream bytes;
    bool end = false;  // the peer closed gracefully after the pieces before this one
  };

  template <class F>
  void post(F f) {
    executor_->post([self = shared_from_this(), f = std::move(f)]() mutable { f(*self); });
  }

  void pump() {
    while (pipe_ && !closing_ && peer_) {
      if (peer_->unread_.load() >= window_) return;  // the peer's drain() wakes us
      Stream piece = pipe_->take_piece();
      if (piece.empty()) return;  // wake_send follows
      const std::size_t n = piece.size();
      peer_->unread_.fetch_add(n);
      peer_->post([piece = std::make_shared<Stream>(std::move(piece))](InprocLink& l) { l.deliver(std::move(*piece)); });
      pipe_->acknowledged(n);
    }
  }

  void deliver(Stream piece) {
    if (closing_) return;
    pending_.push_back({std::move(piece), false});
    drain();
  }

  void on_peer_end(bool graceful) {
    if (closing_) return;
    if (!graceful) return begin_close(false, "the connection was reset by " + remote_);
    pending_.push_back({{}, true});
    drain();
  }

  // Hands queued pieces up while the session is receiving (kept while paused).
  void drain() {
    while (pipe_ && !closing_ && !pending_.empty()) {
      if (pending_.front().end) return begin_close(false, "the connection was closed by " + remote_);
      if (!pipe_->receiving()) return;  // paused: wake_receive resumes
      Stream piece = std::move(pending_.front().bytes);
      pending_.pop_front();
      const std::size_t n = piece.size();
      for (const Chunk& c : piece) pipe_->received_piece(c);
      const std::size_t before = unread_.fetch_sub(n);
      if (peer_ && before >= peer_->window_ && before - n < peer_->window_) peer_->wake_send();
    }
  }

  // Nothing is ever in flight here, so the end is reported at once.
  void finish() {
    peer_.reset();
    if (auto pipe = std::move(pipe_)) {
      pipe->detached(LinkEnd::lost, error_, {});
      if (auto done = std::move(done_)) done();
    }
  }

  const std::shared_ptr<Executor> executor_;
  const std::size_t window_;  // bytes we may have posted to the peer and it did not take
  const std::string remote_;
  std::shared_ptr<InprocLink> peer_;
  std::shared_ptr<Pipe> pipe_;
  std::function<void()> done_;
  std::deque<Piece> pending_;           // received, not yet handed up
  std::atomic<std::size_t> unread_{0};  // bytes posted to us and not handed up (any thread)
  bool closing_ = false;
  std::string error_;
};

class InprocTransport final : public Transport {
 public:
  InprocTransport(Purpose purpose, const Options& options, Hub& hub)
      : purpose_(purpose),
        options_(options),
        hub_(hub),
        endpoint_(options.netloc.host, static_cast<std::uint16_t>(options.netloc.port)),
        accept_(hub.make_executor()) {}
  ~InprocTransport() override { stop(); }

  void start() override {
    if (purpose_ == Purpose::server) return listen();
    connector_ = std::thread([this] { connect(Clock::now() + options_.connection.connect_timeout); });
  }

  std::uint16_t port() const override { return endpoint_.second; }

  void stop_accepting() override {
    Registry& r = Registry::get();
    {
      std::lock_guard lock(r.mutex);
      stopping_ = true;
      auto it = r.servers.find(endpoint_);
      if (it != r.servers.end() && it->second == this) r.servers.erase(it);
    }
    r.changed.notify_all();
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    stop_accepting();
    if (connector_.joinable()) connector_.join();
    // Opens posted before we left the registry have run after this barrier.
    run_on(*accept_, [] {});
    std::vector<std::shared_ptr<InprocLink>> links;
    {
      std::lock_guard lock(mutex_);
      for (auto& weak : links_)
        if (auto l = weak.lock()) links.push_back(std::move(l));
    }
    for (auto& l : links) l->close(false);
    std::unique_lock lock(mutex_);
    all_detached_.wait(lock, [&] { return attached_ == 0; });
  }

 private:
  // Runs `task` on `executor` and waits for it.
  static void run_on(Executor& executor, std::function<void()> task) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    executor.post([&] {
      task();
      std::lock_guard lock(m);
      done = true;
      cv.notify_one();
    });
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return done; });
  }

  void listen() {
    Registry& r = Registry::get();
    {
      std::lock_guard lock(r.mutex);
      if (endpoint_.second == 0) {
        // Port 0: the first free one from the dynamic range, as a kernel would.
        std::uint16_t port = 49152;
        while (r.servers.contains({endpoint_.first, port})) ++port;
        endpoint_.second = port;
      }
      if (!r.servers.emplace(endpoint_, this).second)
        throw Error(errc::transport, "cannot listen on inproc endpoint " + describe() + ": it is taken");
    }
    r.changed.notify_all();
  }

  // Client, on its connector thread: waits for the server to appear, then pairs.
  void connect(Clock::time_point deadline) {
    Registry& r = Registry::get();
    std::unique_lock lock(r.mutex);
    for (;;) {
      if (stopping_) return;
      if (auto it = r.servers.find(endpoint_); it != r.servers.end()) {
        InprocTransport* server = it->second;  // alive: it leaves the registry before it stops
        auto mine =
            std::make_shared<InprocLink>(hub_.make_executor(), options_.connection.max_size, "inproc:" + describe());
        auto theirs =
            std::make_shared<InprocLink>(server->hub_.make_executor(), server->options_.connection.max_size,
                                         "inproc client #" + std::to_string(++server->accepted_));
        InprocLink::pair(mine, theirs);
        server->accept_->post([server, theirs] { server->open(theirs); });
        lock.unlock();
        return open(mine);
      }
      if (r.changed.wait_until(lock, deadline) == std::cv_status::timeout && !r.servers.contains(endpoint_) &&
          !stopping_) {
        lock.unlock();
        return hub_.transport_failed(errc::connect_failed,
                                     "no inproc server at " + describe() + " within connection.connect_timeout");
      }
    }
  }

  // A link is up (the server's accept executor, or the client's connector).
  void open(const std::shared_ptr<InprocLink>& link) {
    auto pipe = stopping_ && purpose_ == Purpose::server ? nullptr : hub_.attach(link);
    if (!pipe) return link->close(false);
    {
      std::lock_guard lock(mutex_);
      std::erase_if(links_, [](const std::weak_ptr<InprocLink>& w) { return w.expired(); });
      links_.push_back(link);
      ++attached_;
    }
    auto done = [this] {
      std::lock_guard lock(mutex_);
      if (--attached_ == 0) all_detached_.notify_all();
    };
    // Started on the link's own executor, where everything else of it runs.
    link->post_start(std::move(pipe), std::move(done));
  }

  std::string describe() const { return endpoint_.first + ":" + std::to_string(endpoint_.second); }

  const Purpose purpose_;
  const Options& options_;
  Hub& hub_;
  std::pair<std::string, std::uint16_t> endpoint_;
  const std::shared_ptr<Executor> accept_;
  std::thread connector_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  unsigned accepted_ = 0;  // under the registry's mutex

  std::mutex mutex_;
  std::condition_variable all_detached_;
  std::vector<std::weak_ptr<InprocLink>> links_;
  int attached_ = 0;
};

std::unique_ptr<Transport> make(Purpose purpose, const Options& options, Hub& hub) {
  return std::make_unique<InprocTransport>(purpose, options, hub);
}

void validate(const Options& o, Purpose purpose) {
  require(purpose == Purpose::server || o.netloc.port != 0, "netloc.port",
          "a client needs the server's port (0 is only for servers)");
  require(!o.security.active(), "security", "inproc never leaves the process: it has no TLS");
}

}  // namespace

const TransportInfo inproc_transport{Protocol::inproc, &make, &validate,
                                     Capabilities{.one_buffer_per_message = false}};

}  // namespace netqueue::detail
