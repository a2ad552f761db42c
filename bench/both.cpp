#include "both.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "report.hpp"

namespace iops {

namespace {

struct Child {
  Purpose side;
  pid_t pid = -1;
  bool running = false;
};

// The child's command line: ours, with the side it plays (and where its
// result goes, unless --json already says) put first, so that a `--` among
// the user's arguments cannot turn them into positionals.
// The port goes last: it overrides the user's (which may be 0).
std::vector<std::string> child_arguments(int argc, char** argv, Purpose side, const std::string* temporary_json,
                                         std::uint16_t port) {
  std::vector<std::string> args{argv[0], "--child", std::string(to_string(side))};
  if (temporary_json) args.insert(args.end(), {"--json", *temporary_json});
  args.insert(args.end(), argv + 1, argv + argc);
  args.push_back("--port=" + std::to_string(port));
  return args;
}

// A port the kernel considers free now, for `--port 0`: both children must
// agree on one before the server starts.
std::uint16_t free_port(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), "0", &hints, &found) != 0 || !found)
    throw std::runtime_error("cannot resolve --host " + host);
  const int fd = socket(found->ai_family, SOCK_STREAM, 0);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  const bool ok = fd >= 0 && bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0;
  freeaddrinfo(found);
  if (fd >= 0) close(fd);
  if (!ok) throw std::system_error(errno, std::generic_category(), "looking for a free port");
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

pid_t spawn(const std::vector<std::string>& args, const char* program = "/proc/self/exe") {
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid > 0) return pid;
  // Die with the parent (stopped by `timeout`, Ctrl-C...): no orphan keeps the port.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1);
  execv(program, argv.data());
  const char message[] = "netqueue-iops: cannot run a program it needs (itself, or /usr/sbin/mosquitto)\n";
  [[maybe_unused]] const auto written = write(STDERR_FILENO, message, sizeof message - 1);
  _exit(127);
}

// True when the child ended well. Reports a death by signal (the child reports
// its own errors), unless it was this process that stopped it.
bool succeeded(const Child& child, int status, bool stopped_by_us) {
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 0;
  if (WIFSIGNALED(status) && !stopped_by_us) {
    print_error(std::string(to_string(child.side)) + " died of signal " + std::to_string(WTERMSIG(status)) + " (" +
                strsignal(WTERMSIG(status)) + ")");
  }
  return false;
}

// Waits for both children. When one fails the other is stopped: it could wait
// forever (a server does not learn that its client gave up).
bool wait_for(std::array<Child, 2>& children) {
  bool all_good = true;
  bool stopping = false;
  for (int left = 2; left > 0;) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "waitpid");
    }
    for (Child& child : children) {
      if (child.pid != pid) continue;
      child.running = false;
      --left;
      if (succeeded(child, status, stopping)) continue;
      all_good = false;
      for (const Child& other : children) {
        if (other.running) kill(other.pid, SIGTERM);
      }
      stopping = true;
    }
  }
  return all_good;
}

// A mosquitto of the run's own, for an MQTT run that names no broker
// (--port 0): a free 127.0.0.1 port, the settings that keep a slow subscriber
// lossless (README "MQTT through a broker"), stopped when the run ends.
class Broker {
 public:
  // What a TLS listener presents (--secure: --cert and --key).
  struct Tls {
    std::string certificate, key;
  };

  Broker(std::uint16_t port, const std::optional<Tls>& tls) : port_(port) {
    std::string pattern = (std::filesystem::temp_directory_path() / "netqueue-iops-broker.XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    dir_ = pattern;
    {
      std::ofstream conf(dir_ + "/mosquitto.conf");
      conf << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\npersistence false\n"
           << "max_queued_messages 0\nmax_inflight_messages 0\nmessage_size_limit 268435455\n"
           << "set_tcp_nodelay true\nlog_dest none\n"
           << (geteuid() == 0 ? "user root\n" : "");
      if (tls) {
        conf << "certfile " << std::filesystem::absolute(tls->certificate).string() << "\nkeyfile "
             << std::filesystem::absolute(tls->key).string() << "\n";
      }
    }
    pid_ = spawn({"/usr/sbin/mosquitto", "-c", dir_ + "/mosquitto.conf"}, "/usr/sbin/mosquitto");
    // Ready once it accepts connections.
    for (int i = 0; i < 1000; ++i) {
      if (accepts()) return;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) throw std::runtime_error("mosquitto exited at start (see its messages above)");
      usleep(10000);
    }
    throw std::runtime_error("mosquitto did not listen on 127.0.0.1:" + std::to_string(port_) + " within 10 s");
  }
  ~Broker() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

 private:
  bool accepts() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(port_);
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0;
    if (fd >= 0) close(fd);
    return ok;
  }

  std::uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace

int run_both(const Config& config, int argc, char** argv) {
  namespace fs = std::filesystem;
  // Without --json the children still report through files, in a directory of our own.
  std::string temporary_dir;
  if (!config.json_path) {
    std::string pattern = (fs::temp_directory_path() / "netqueue-iops.XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    temporary_dir = pattern;
  }
  const std::string temporary_json = temporary_dir + "/result.json";
  const std::string json_path = config.json_path ? *config.json_path : temporary_json;
  const std::string* extra_json = config.json_path ? nullptr : &temporary_json;

  // The server first; the client retries connecting until it is up.
  const std::uint16_t port = config.port != 0 ? static_cast<std::uint16_t>(config.port) : free_port(config.host);
  // MQTT: the port is the broker's; with --port 0 the run brings its own.
  std::optional<Broker> broker;
  if (config.protocol == netqueue::Protocol::mqtt && config.port == 0) {
    std::optional<Broker::Tls> tls;
    if (config.secure) {
      if (!config.cert || !config.key)
        throw std::runtime_error("MQTT over TLS with --port 0 needs --cert and --key: the run's own broker presents them");
      tls = Broker::Tls{*config.cert, *config.key};
    }
    broker.emplace(port, tls);
  }
  std::array<Child, 2> children{Child{Purpose::server}, Child{Purpose::client}};
  for (Child& child : children) {
    child.pid = spawn(child_arguments(argc, argv, child.side, extra_json, port));
    child.running = true;
  }
  const bool ok = wait_for(children);

  Json merged = document(config);
  for (const Child& child : children) {
    const std::string path = side_result_path(json_path, child.side);
    if (ok) {
      const std::string side(to_string(child.side));
      merged[side] = read_json(path).at(side);
      std::cout << side << ":\n" << format_report(result_from_json(merged[side]));
    }
    fs::remove(path);
  }
  std::cout << std::flush;
  if (ok && config.json_path) write_json(*config.json_path, merged);
  if (!temporary_dir.empty()) fs::remove_all(temporary_dir);
  return ok ? 0 : 1;
}

}  // namespace iops
