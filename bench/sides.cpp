#include "sides.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "netqueue/communicator.hpp"

namespace iops {

namespace {

using Clock = std::chrono::steady_clock;

// The start handshake's message. Not 16 bytes long, so that it can never be
// taken for a goodbye.
constexpr std::string_view start_text = "netqueue-iops: start";

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void pause(double seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

// For threads other than main's: a failure voids the run, and waiting for the
// other threads could hang (a server never learns that a client gave up), so
// the process reports it and ends at once.
template <class F>
void exit_on_error(F&& run) noexcept {
  try {
    run();
  } catch (const std::exception& e) {
    print_error(e.what());
    std::_Exit(1);
  }
}

// Counts what went through and, on a terminal, shows it on one stderr line
// that its own thread redraws a few times a second: drawing from the put and
// get loops would cost more than a small message does.
class Progress {
 public:
  Progress(std::string_view side, std::uint64_t to_send, std::uint64_t to_receive, bool visible)
      : side_(side), to_send_(to_send), to_receive_(to_receive) {
    if (visible) drawer_ = std::jthread([this](std::stop_token stop) { redraw_until(stop); });
  }
  ~Progress() {
    if (!drawer_.joinable()) return;
    drawer_.request_stop();
    drawer_.join();
    std::fputs("\r\033[K", stderr);  // leave the terminal line clean for the report
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void sent() noexcept { sent_.fetch_add(1, std::memory_order_relaxed); }
  void received() noexcept { received_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void redraw_until(std::stop_token stop) const {
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    while (!stop.stop_requested()) {
      draw();
      wake.wait_for(lock, stop, std::chrono::milliseconds(200), [] { return false; });
    }
  }
  void draw() const {
    const std::string line = "\r" + side_ + ": put " + std::to_string(sent_.load(std::memory_order_relaxed)) + "/" +
                             std::to_string(to_send_) + ", got " +
                             std::to_string(received_.load(std::memory_order_relaxed)) + "/" +
                             std::to_string(to_receive_) + " messages";
    std::fputs(line.c_str(), stderr);
  }

  std::string side_;
  std::uint64_t to_send_;
  std::uint64_t to_receive_;
  // Apart, so that the put and the get thread do not share a cache line.
  alignas(64) std::atomic<std::uint64_t> sent_{0};
  alignas(64) std::atomic<std::uint64_t> received_{0};
  std::jthread drawer_;  // last: it reads the members above
};

bool show_progress(const Config& config) {
  // In a `both` run the two children share the terminal: only the client draws.
  return isatty(STDERR_FILENO) && config.child_side != Purpose::server;
}

// The peers that left (the server's on_peer_left hook), so that a run whose
// client died fails instead of waiting for it forever.
class Departures {
 public:
  void add(const netqueue::Id& peer) {
    std::lock_guard lock(mutex_);
    left_.push_back(peer);
  }
  std::vector<netqueue::Id> list() const {
    std::lock_guard lock(mutex_);
    return left_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<netqueue::Id> left_;
};

// Takes the whole list from each peer, in order, checking every message.
class Receiver {
 public:
  Receiver(const Workload& workload, std::span<const netqueue::Id> peers, const Departures* departures = nullptr)
      : workload_(workload), departures_(departures) {
    for (const netqueue::Id& peer : peers) next_.emplace(peer, 0);
  }

  void receive_all(netqueue::Communicator& comm, Progress& progress) {
    const std::uint64_t total = workload_.sizes.size() * next_.size();
    for (std::uint64_t i = 0; i < total;) {
      auto message = comm.get_for(std::chrono::seconds(1));
      if (!message) {
        check_departures();
        continue;
      }
      const std::uint64_t index = next_index(message->peer);
      workload_.source.check(*message, workload_.sizes[index], index);
      progress.received();
      ++i;
    }
  }

 private:
  // Nothing arrived for a while: a peer that left with messages missing will not send them.
  void check_departures() const {
    if (!departures_) return;
    for (const netqueue::Id& peer : departures_->list()) {
      const auto it = next_.find(peer);
      if (it != next_.end() && it->second < workload_.sizes.size())
        throw CheckError("client " + peer.str() + " left after " + std::to_string(it->second) + " of its " +
                         std::to_string(workload_.sizes.size()) + " messages");
    }
  }

  // Messages of one peer arrive in the order it put them: its n-th message is
  // the n-th of the list.
  std::uint64_t next_index(const netqueue::Id& peer) {
    const auto it = next_.find(peer);
    if (it == next_.end()) throw CheckError("a message from " + peer.str() + ", which is not in this run");
    if (it->second == workload_.sizes.size()) throw CheckError("more messages than were sent from " + peer.str());
    return it->second++;
  }

  const Workload& workload_;
  const Departures* departures_;
  std::unordered_map<netqueue::Id, std::uint64_t> next_;
};

// Puts the whole list (a client: to its server; the server: to every client)
// and returns the last put's future: a session hands its puts over in order,
// so the last one resolves after all the others, and fails if any did.
netqueue::SendFuture send_all(netqueue::Communicator& comm, const Workload& workload, Progress& progress) {
  netqueue::SendFuture last;
  for (const std::uint64_t size : workload.sizes) {
    last = comm.put(workload.source.view(size));
    progress.sent();
  }
  return last;
}

// The timed part, as iops.py: async puts and gets at once from two threads;
// sync has the client put everything before it gets, and the server get
// everything before it puts, each waiting --delay in between.
netqueue::SendFuture exchange(netqueue::Communicator& comm, const Config& config, Receiver& receiver,
                              const Workload& workload, Progress& progress) {
  const auto receive = [&] { receiver.receive_all(comm, progress); };
  if (config.mode == Mode::async) {
    std::jthread getter([&] { exit_on_error(receive); });
    netqueue::SendFuture last = send_all(comm, workload, progress);
    getter.join();
    return last;
  }
  if (comm.purpose() == netqueue::Purpose::server) {
    pause(config.delay_seconds);
    receive();
    return send_all(comm, workload, progress);
  }
  netqueue::SendFuture last = send_all(comm, workload, progress);
  pause(config.delay_seconds);
  receive();
  return last;
}

netqueue::Stream start_message() { return netqueue::Stream::borrow(start_text); }

void expect_start(const netqueue::Message& message) {
  const bool is_start = message.data.size() == start_text.size() && message.data.to_string() == start_text;
  if (!is_start) {
    throw CheckError("expected the start message from " + message.peer.str() + ", got " +
                     std::to_string(message.data.size()) + " other bytes");
  }
}

// Server: the start message of each of `count` clients; returns who they are.
std::vector<netqueue::Id> await_clients(netqueue::Communicator& comm, unsigned count) {
  std::vector<netqueue::Id> clients;
  while (clients.size() < count) {
    const netqueue::Message message = comm.get();
    expect_start(message);
    if (std::find(clients.begin(), clients.end(), message.peer) != clients.end()) {
      throw CheckError("two start messages from " + message.peer.str());
    }
    clients.push_back(message.peer);
  }
  return clients;
}

// Client: says it is ready and waits for the server's answer; returns the server's id.
netqueue::Id await_server(netqueue::Communicator& comm) {
  comm.put(start_message());
  const netqueue::Message answer = comm.get();
  expect_start(answer);
  return answer.peer;
}

Result make_result(const Config& config, const Workload& workload, Purpose side, double seconds) {
  Result result;
  result.side = side;
  result.seconds = seconds;
  result.messages = workload.sizes.size() * config.clients;
  result.payload_bytes = workload.payload_bytes * config.clients;
  result.peak_rss_bytes = peak_rss_bytes();
  return result;
}

}  // namespace

Result run_server(const Config& config, const Workload& workload) {
  Departures departures;
  netqueue::Options options = make_options(config, netqueue::Purpose::server);
  options.on_peer_left = [&departures](const netqueue::Id& peer) { departures.add(peer); };
  netqueue::Communicator comm(config.protocol, netqueue::Purpose::server, std::move(options));
  Receiver receiver(workload, await_clients(comm, config.clients), &departures);
  Progress progress("server", workload.sizes.size(), workload.sizes.size() * config.clients, show_progress(config));
  comm.put(start_message());  // to every client at once
  const Clock::time_point start = Clock::now();

  const netqueue::SendFuture last = exchange(comm, config, receiver, workload, progress);
  comm.close();
  const double seconds = seconds_since(start);
  last.get();  // throws if a put could not be handed over
  return make_result(config, workload, Purpose::server, seconds);
}

Result run_client(const Config& config, const Workload& workload) {
  const std::uint64_t per_direction = workload.sizes.size() * config.clients;
  Progress progress("client", per_direction, per_direction, show_progress(config));
  Clock::time_point start;
  std::barrier started(config.clients, [&start]() noexcept { start = Clock::now(); });

  const auto run_one = [&] {
    netqueue::Communicator comm(config.protocol, netqueue::Purpose::client,
                                make_options(config, netqueue::Purpose::client));
    const netqueue::Id server = await_server(comm);
    Receiver receiver(workload, std::span(&server, 1));
    started.arrive_and_wait();
    const netqueue::SendFuture last = exchange(comm, config, receiver, workload, progress);
    comm.close();
    last.get();
  };
  {
    std::vector<std::jthread> clients;
    for (unsigned i = 0; i < config.clients; ++i) clients.emplace_back([&] { exit_on_error(run_one); });
  }  // joined: every client has closed
  const double seconds = seconds_since(start);
  return make_result(config, workload, Purpose::client, seconds);
}

}  // namespace iops
