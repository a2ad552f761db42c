// netqueue-zmq-baseline: the sync and async workloads of netqueue-iops over a
// plain ZeroMQ PAIR socket (libzmq's C API), so that bench/run can put
// netqueue's figures beside ZeroMQ's. Same command line for the mix of one
// size (--step-size 0: --reps messages of 2^--max-size bytes), same count
// (both directions), same clock (the client's, from the first send after a
// start handshake to the last receive), same report lines and JSON.
//
// ZeroMQ is given its best shot: messages of 8 KiB and more leave without a
// copy (zmq_msg_init_data over the source buffer), smaller ones by zmq_send;
// received messages are zmq_msg_t (no copy out) and checked as netqueue-iops
// checks its own (size, bytes sampled at both ends and the middle). A ZeroMQ
// socket is not thread-safe, so async runs one thread that sends in bursts
// and drains what arrived in between, waiting in zmq_poll when neither moves.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "report.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using iops::Json;
using iops::Mode;
using iops::Purpose;

constexpr std::string_view tool = "netqueue-zmq-baseline";
constexpr std::size_t zero_copy_from = 8192;
// A side that waits this long for its peer gives up (its peer died).
constexpr int patience_ms = 60'000;
constexpr std::string_view start_text = "zmq-baseline: start";
constexpr std::string_view bye_text = "bye";

struct Settings {
  Purpose purpose = Purpose::both;
  Mode mode = Mode::sync;
  int min_size = 8;  // accepted for netqueue-iops's command lines; one size is run
  int step_size = 0;
  int max_size = 21;
  std::uint64_t reps = 1;
  std::string host = "127.0.0.1";
  std::uint32_t port = 51967;
  // ZeroMQ's own default: the fastest here for 256 B (1M messages: 0.82 / 0.68 M
  // msgs/s sync / async, against 0.34 / 0.32 with no limit and 0.48 / 0.60 with
  // 100,000), the same for 2 MiB. A sync run cannot deadlock on it: the side
  // that sends first has a peer that receives everything meanwhile.
  int hwm = 1000;
  std::optional<std::string> json_path;

  std::uint64_t message_bytes() const { return std::uint64_t{1} << max_size; }
};

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }
[[noreturn]] void fail_zmq(const std::string& call) { fail(call + ": " + zmq_strerror(errno)); }

// One PAIR socket and its context, closed in order.
class Pair {
 public:
  explicit Pair(int hwm) : context_(zmq_ctx_new()) {
    if (!context_) fail_zmq("zmq_ctx_new");
    socket_ = zmq_socket(context_, ZMQ_PAIR);
    if (!socket_) fail_zmq("zmq_socket");
    const int linger_ms = 10'000;  // a dead peer must not hold the close forever
    for (const auto& [option, value] : {std::pair{ZMQ_SNDHWM, hwm}, std::pair{ZMQ_RCVHWM, hwm},
                                        std::pair{ZMQ_LINGER, linger_ms}, std::pair{ZMQ_RCVTIMEO, patience_ms},
                                        std::pair{ZMQ_SNDTIMEO, patience_ms}}) {
      if (zmq_setsockopt(socket_, option, &value, sizeof value) != 0) fail_zmq("zmq_setsockopt");
    }
  }
  ~Pair() {
    zmq_close(socket_);
    zmq_ctx_term(context_);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  void* socket() const { return socket_; }

  // Binds to host:port (port 0: one the kernel picks) and returns the port.
  std::uint16_t bind(const std::string& host, std::uint32_t port) {
    const std::string endpoint = "tcp://" + host + ":" + (port == 0 ? std::string("*") : std::to_string(port));
    if (zmq_bind(socket_, endpoint.c_str()) != 0) fail_zmq("zmq_bind " + endpoint);
    std::array<char, 256> bound{};
    std::size_t length = bound.size();
    if (zmq_getsockopt(socket_, ZMQ_LAST_ENDPOINT, bound.data(), &length) != 0) fail_zmq("ZMQ_LAST_ENDPOINT");
    return static_cast<std::uint16_t>(std::stoul(std::strrchr(bound.data(), ':') + 1));
  }
  void connect(const std::string& host, std::uint32_t port) {
    const std::string endpoint = "tcp://" + host + ":" + std::to_string(port);
    if (zmq_connect(socket_, endpoint.c_str()) != 0) fail_zmq("zmq_connect " + endpoint);
  }

  // False when a ZMQ_DONTWAIT send would block.
  bool send(std::span<const std::byte> bytes, int flags = 0) {
    int sent;
    if (bytes.size() >= zero_copy_from) {
      zmq_msg_t message;
      // No free function: the source buffer outlives the socket.
      zmq_msg_init_data(&message, const_cast<std::byte*>(bytes.data()), bytes.size(), nullptr, nullptr);
      sent = zmq_msg_send(&message, socket_, flags);
      if (sent < 0) zmq_msg_close(&message);
    } else {
      sent = zmq_send(socket_, bytes.data(), bytes.size(), flags);
    }
    return sent >= 0 || would_block("send");
  }
  void send(std::string_view text) { send(std::as_bytes(std::span(text))); }

  // Passes the next message to `take` and returns true; false when a
  // ZMQ_DONTWAIT receive would block.
  template <class Take>
  bool receive(Take&& take, int flags = 0) {
    zmq_msg_t message;
    zmq_msg_init(&message);
    if (zmq_msg_recv(&message, socket_, flags) < 0) {
      zmq_msg_close(&message);
      return would_block("receive");
    }
    const std::span bytes(static_cast<const std::byte*>(zmq_msg_data(&message)), zmq_msg_size(&message));
    try {
      take(bytes);
    } catch (...) {
      zmq_msg_close(&message);
      throw;
    }
    zmq_msg_close(&message);
    return true;
  }
  void expect(std::string_view text) {
    receive([text](std::span<const std::byte> bytes) {
      if (std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()) != text)
        fail("expected \"" + std::string(text) + "\", got " + std::to_string(bytes.size()) + " other bytes");
    });
  }

  // Waits until the socket can send (`out`) or has a message (`in`).
  void wait(bool out, bool in) {
    zmq_pollitem_t item{socket_, 0, static_cast<short>((out ? ZMQ_POLLOUT : 0) | (in ? ZMQ_POLLIN : 0)), 0};
    const int ready = zmq_poll(&item, 1, patience_ms);
    if (ready < 0 && errno != EINTR) fail_zmq("zmq_poll");
    if (ready == 0) fail("nothing moved for " + std::to_string(patience_ms / 1000) + " s");
  }

 private:
  // EAGAIN: a non-blocking call that would block, or a blocking one that timed out.
  static bool would_block(const char* what) {
    if (errno != EAGAIN) fail_zmq(std::string("zmq ") + what);
    return false;
  }

  void* context_;
  void* socket_ = nullptr;
};

// The bytes every message is a prefix of, and the check of what arrived.
class Payload {
 public:
  explicit Payload(std::uint64_t size) : bytes_(std::make_unique_for_overwrite<std::byte[]>(size)), size_(size) {
    for (std::uint64_t i = 0; i < size; ++i) bytes_[i] = static_cast<std::byte>((i * 131 + i / 251) & 0xff);
  }
  std::span<const std::byte> message() const { return {bytes_.get(), size_}; }

  void check(std::span<const std::byte> got, std::uint64_t index) const {
    const auto where = [index] { return "message #" + std::to_string(index) + ": "; };
    if (got.size() != size_) fail(where() + std::to_string(got.size()) + " bytes, not " + std::to_string(size_));
    constexpr std::uint64_t sample = 8;
    for (const std::uint64_t offset : {std::uint64_t{0}, size_ / 2, size_ - std::min(sample, size_)}) {
      const std::size_t count = std::min(sample, size_ - offset);
      if (std::memcmp(got.data() + offset, bytes_.get() + offset, count) != 0)
        fail(where() + "content differs near byte " + std::to_string(offset));
    }
  }

 private:
  std::unique_ptr<std::byte[]> bytes_;
  std::uint64_t size_;
};

// The timed part. Sync: the client sends everything, then receives; the
// server receives everything, then sends. Async: both at once.
void exchange(Pair& pair, const Settings& settings, Purpose side, const Payload& payload) {
  const std::uint64_t count = settings.reps;
  std::uint64_t sent = 0, received = 0;
  const auto take = [&](std::span<const std::byte> bytes) { payload.check(bytes, received++); };
  const auto send_all = [&] {
    for (; sent < count; ++sent) pair.send(payload.message());
  };
  const auto receive_all = [&] {
    while (received < count) pair.receive(take);
  };
  if (settings.mode == Mode::sync) {
    if (side == Purpose::client) {
      send_all();
      receive_all();
    } else {
      receive_all();
      send_all();
    }
    return;
  }
  constexpr int burst = 64;
  while (sent < count || received < count) {
    bool moved = false;
    for (int i = 0; i < burst && sent < count && pair.send(payload.message(), ZMQ_DONTWAIT); ++i, ++sent)
      moved = true;
    while (received < count && pair.receive(take, ZMQ_DONTWAIT)) moved = true;
    if (!moved) pair.wait(sent < count, received < count);
  }
}

// One side, whole. `on_bound` learns the server's port once it listens.
template <class OnBound>
iops::Result run_side(const Settings& settings, Purpose side, OnBound&& on_bound) {
  const Payload payload(settings.message_bytes());
  Pair pair(settings.hwm);
  // Start handshake, then the clock: neither connecting nor the first
  // message's setup is timed (as in netqueue-iops).
  if (side == Purpose::server) {
    on_bound(pair.bind(settings.host, settings.port));
    pair.expect(start_text);
    pair.send(start_text);
  } else {
    pair.connect(settings.host, settings.port);
    pair.send(start_text);
    pair.expect(start_text);
  }
  const Clock::time_point start = Clock::now();
  exchange(pair, settings, side, payload);
  // The client's clock stops at its last receive; its goodbye tells the
  // server that everything arrived, before either closes.
  if (side == Purpose::server) pair.expect(bye_text);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (side == Purpose::client) pair.send(bye_text);
  return {side, seconds, settings.reps, settings.reps * settings.message_bytes(), iops::peak_rss_bytes()};
}

Json document(const Settings& settings) {
  int major = 0, minor = 0, patch = 0;
  zmq_version(&major, &minor, &patch);
  return {{"tool", tool},
          {"version", "libzmq " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch)},
          {"options",
           {{"protocol", "zmq"},
            {"purpose", iops::to_string(settings.purpose)},
            {"mode", iops::to_string(settings.mode)},
            {"max_size", settings.max_size},
            {"reps", settings.reps},
            {"host", settings.host},
            {"port", settings.port},
            {"hwm", settings.hwm},
            {"zero_copy_from", zero_copy_from}}}};
}

void print_error(Purpose side, std::string_view what) {
  std::cerr << std::string(tool) + ": " + std::string(iops::to_string(side)) + ": " + std::string(what) + "\n"
            << std::flush;
}

// A pipe's two ends, closed when no longer needed.
struct Pipe {
  Pipe() {
    if (::pipe(fd.data()) != 0) fail(std::string("pipe: ") + std::strerror(errno));
  }
  ~Pipe() {
    for (const int end : fd)
      if (end >= 0) ::close(end);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  void close(int end) {
    ::close(fd[end]);
    fd[end] = -1;
  }
  void write(const std::string& text) const {
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fd[1], text.data() + done, text.size() - done);
      if (n <= 0) fail("writing to the parent failed");
      done += static_cast<std::size_t>(n);
    }
  }
  // Up to a newline, or what came before the writer closed.
  std::string read_line() const {
    std::string line;
    for (char c; ::read(fd[0], &c, 1) == 1 && c != '\n';) line += c;
    return line;
  }
  std::string read_all() const {
    std::string text;
    std::array<char, 4096> buffer{};
    for (ssize_t n; (n = ::read(fd[0], buffer.data(), buffer.size())) != 0;) {
      if (n < 0 && errno != EINTR) fail(std::string("reading from a child failed: ") + std::strerror(errno));
      if (n > 0) text.append(buffer.data(), static_cast<std::size_t>(n));
    }
    return text;
  }
  std::array<int, 2> fd{-1, -1};
};

// `both`: each side in a child process of its own (forked before any ZeroMQ
// state exists). The server sends its port up `ports` once it listens, each
// side its result as JSON up `results`. Returns the child's pid.
pid_t start_child(const Settings& settings, Purpose side, Pipe& ports, Pipe& results) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
  if (pid > 0) return pid;
  // Die with the parent (stopped by `timeout`, Ctrl-C...): no orphan keeps the port.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1);
  try {
    const iops::Result result =
        run_side(settings, side, [&ports](std::uint16_t port) { ports.write(std::to_string(port) + "\n"); });
    results.write(iops::result_json(result).dump());
    _exit(0);
  } catch (const std::exception& e) {
    print_error(side, e.what());
    _exit(1);
  }
}

// Waits for one of this process's children (it has no others) and returns
// it and whether it ended well. A child reports its own errors, but not its
// death by a signal (reported unless this process stopped it).
std::pair<pid_t, bool> reap_child(pid_t server, bool stopped_by_us = false) {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, 0)) < 0 && errno == EINTR) {
  }
  if (pid < 0) fail(std::string("waitpid: ") + std::strerror(errno));
  if (WIFSIGNALED(status) && !stopped_by_us) {
    print_error(pid == server ? Purpose::server : Purpose::client,
                std::string("died of signal ") + strsignal(WTERMSIG(status)));
  }
  return {pid, WIFEXITED(status) && WEXITSTATUS(status) == 0};
}

// When one side fails the other is stopped: it would otherwise wait for its
// peer until its patience runs out.
bool wait_for(pid_t server, pid_t client) {
  const auto [first, first_ok] = reap_child(server);
  if (first_ok) return reap_child(server).second;
  kill(first == server ? client : server, SIGTERM);
  reap_child(server, true);
  return false;
}

int run_both(const Settings& settings) {
  Pipe ports, server_result, client_result;
  const pid_t server = start_child(settings, Purpose::server, ports, server_result);
  ports.close(1);
  server_result.close(1);
  const std::string port_line = ports.read_line();  // nothing when the server failed
  Settings client_settings = settings;
  pid_t client = -1;
  if (!port_line.empty()) {
    client_settings.port = static_cast<std::uint32_t>(std::stoul(port_line));
    client = start_child(client_settings, Purpose::client, ports, client_result);
  }
  client_result.close(1);
  if (client < 0) {
    reap_child(server);
    return 1;
  }
  if (!wait_for(server, client)) return 1;

  Json merged = document(client_settings);
  for (const auto& [side, pipe] : {std::pair{Purpose::server, &server_result}, std::pair{Purpose::client, &client_result}}) {
    const std::string name(iops::to_string(side));
    merged[name] = Json::parse(pipe->read_all());
    std::cout << name << ":\n" << iops::format_report(iops::result_from_json(merged[name]));
  }
  std::cout << std::flush;
  if (settings.json_path) iops::write_json(*settings.json_path, merged);
  return 0;
}

int run(const Settings& settings) {
  if (settings.purpose == Purpose::both) return run_both(settings);
  const iops::Result result = run_side(settings, settings.purpose, [&settings](std::uint16_t port) {
    if (settings.port == 0) std::cout << "listening on port " << port << std::endl;
  });
  std::cout << iops::format_report(result) << std::flush;
  if (settings.json_path) {
    Json json = document(settings);
    json[std::string(iops::to_string(settings.purpose))] = iops::result_json(result);
    iops::write_json(*settings.json_path, json);
  }
  return 0;
}

// netqueue-iops's command line, where it applies: PURPOSE MODE, the mix of
// one size, --host, --port, --json; plus --hwm.
std::optional<int> parse(int argc, char** argv, Settings& settings) {
  CLI::App app{"ZeroMQ (PAIR over TCP) running netqueue-iops's sync and async workloads, for comparison.",
               std::string(tool)};
  app.footer("Example:\n  netqueue-zmq-baseline both async --min-size 8 --max-size 8 --step-size 0 --reps 1000000");
  const std::map<std::string, Purpose> purposes{
      {"server", Purpose::server}, {"client", Purpose::client}, {"both", Purpose::both}};
  const std::map<std::string, Mode> modes{{"sync", Mode::sync}, {"async", Mode::async}};
  std::string purpose, mode;
  app.add_option("purpose", purpose, "server, client, or both (two processes)")
      ->required()
      ->check(CLI::IsMember(purposes));
  app.add_option("mode", mode, "sync: all sends, then all receives; async: both at once")
      ->required()
      ->check(CLI::IsMember(modes));
  app.add_option("--min-size", settings.min_size, "Ignored (one size: --step-size 0)")->check(CLI::Range(0, 36));
  app.add_option("--step-size", settings.step_size, "Only 0: messages of 2^max-size bytes, no mix")
      ->check(CLI::Range(0, 0));
  app.add_option("--max-size", settings.max_size, "Messages of 2^E bytes")->capture_default_str()->check(CLI::Range(0, 32));
  app.add_option("--reps", settings.reps, "Messages each way")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--host", settings.host, "Server address")->capture_default_str();
  app.add_option("--port", settings.port, "Server port (0: one the kernel picks)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 65535u));
  app.add_option("--hwm", settings.hwm, "ZMQ_SNDHWM and ZMQ_RCVHWM in messages (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--json", settings.json_path, "Also write the options and results to FILE")->type_name("FILE");
  try {
    app.parse(argc, argv);
    settings.purpose = purposes.at(purpose);
    settings.mode = modes.at(mode);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  if (const auto exit_code = parse(argc, argv, settings)) return *exit_code;
  try {
    return run(settings);
  } catch (const std::exception& e) {
    print_error(settings.purpose, e.what());
    return 1;
  }
}
