#include "support/mqtt_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace nqtest {
namespace {

bool accepts(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Stops the shared broker when the test program ends normally; a crash kills
// it through PR_SET_PDEATHSIG instead.
class BrokerEnvironment : public testing::Environment {
 public:
  void TearDown() override {
    if (broker) broker->kill();
  }
  Broker* broker = nullptr;
};

BrokerEnvironment* environment() {
  static BrokerEnvironment* env = static_cast<BrokerEnvironment*>(
      testing::AddGlobalTestEnvironment(new BrokerEnvironment));  // gtest owns it
  return env;
}

}  // namespace

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

Broker::Broker(std::string address) : address_(std::move(address)) {
  char templ[] = "/tmp/netqueue-mosquitto-XXXXXX";
  if (!::mkdtemp(templ)) throw std::runtime_error("cannot make a directory for mosquitto");
  dir_ = templ;
  configure();
}

void Broker::configure() {
  std::error_code ignored;  // the log of an attempt that lost its port
  std::filesystem::remove(dir_ + "/mosquitto.log", ignored);
  port_ = free_port();
  tls_port_ = free_port();
  mutual_tls_port_ = free_port();
  const std::string certs = certs_dir();
  std::ofstream conf(dir_ + "/mosquitto.conf");
  // Deliberate limits: no drops for slow subscribers (max_queued_messages 0),
  // pieces up to 16 MiB plus headers (net-queue's default transport size),
  // nothing kept across restarts (a restarted broker is a new broker), no
  // Nagle delay on what it sends (set_tcp_nodelay).
  conf << "per_listener_settings false\n"
       << "allow_anonymous true\n"
       << "persistence false\n"
       << "max_queued_messages 0\n"
       << "set_tcp_nodelay true\n"
       << "message_size_limit " << (16 * 1024 * 1024 + 64 * 1024) << "\n"
       << "log_dest file " << dir_ << "/mosquitto.log\n"
       << "log_type error\nlog_type warning\nlog_type notice\n"
       << (::geteuid() == 0 ? "user root\n" : "")
       << "listener " << port_ << " " << address_ << "\n"
       << "listener " << tls_port_ << " " << address_ << "\n"
       << "cafile " << certs << "/ca.pem\n"
       << "certfile " << certs << "/server.pem\n"
       << "keyfile " << certs << "/server.key\n"
       << "listener " << mutual_tls_port_ << " " << address_ << "\n"
       << "cafile " << certs << "/ca.pem\n"
       << "certfile " << certs << "/server.pem\n"
       << "keyfile " << certs << "/server.key\n"
       << "require_certificate true\n";
}

Broker::~Broker() {
  kill();
  std::error_code ignored;  // a leftover temporary directory is no failure
  std::filesystem::remove_all(dir_, ignored);
}

void Broker::start() {
  if (pid_ > 0) return;
  // Tests run in parallel: a port found free may be taken before mosquitto
  // binds it. Until the broker first listened, new ports are as good.
  for (int attempt = 0; !launch(); ++attempt) {
    if (listened_ || attempt == 5) throw std::runtime_error("mosquitto exited at start; its log:\n" + log());
    configure();
  }
  listened_ = true;
}

bool Broker::launch() {
  const std::string conf = dir_ + "/mosquitto.conf";
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // Dies with the test program, whatever way it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    // Its start-up notes go to its log, not into the test output.
    const int out = ::open((dir_ + "/mosquitto.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(accepts(port_) && accepts(tls_port_) && accepts(mutual_tls_port_))) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (log().find("Address already in use") != std::string::npos) return false;
      throw std::runtime_error("mosquitto exited at start; its log:\n" + log());
    }
    if (std::chrono::steady_clock::now() > until) {
      kill();
      throw std::runtime_error("mosquitto did not listen within 10 s; its log:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Broker::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Broker::log() const {
  std::stringstream s;
  for (const char* name : {"/mosquitto.out", "/mosquitto.log"}) {
    std::ifstream in(dir_ + name);
    if (in) s << in.rdbuf();
  }
  return s.str();
}

Broker& Broker::shared() {
  static Broker broker;
  environment()->broker = &broker;
  if (!broker.running()) broker.start();
  return broker;
}

Endpoint MqttFixture::broker_endpoint(const TransportCase& c) {
  Broker& b = broker_();
  return {"127.0.0.1", c.tls ? b.tls_port() : b.port()};
}

netqueue::Options MqttFixture::server_options(const TransportCase& c) {
  return server_options_at(c, broker_endpoint(c));
}

Endpoint MqttFixture::endpoint_of(const TransportCase& c, const netqueue::Communicator&) { return broker_endpoint(c); }

Endpoint MqttFixture::reserve(const TransportCase& c) { return broker_endpoint(c); }

netqueue::Options MqttFixture::server_options_at(const TransportCase& c, const Endpoint& where) {
  netqueue::Options o = nqtest::server_options(c);
  o.netloc.host = where.host;
  o.netloc.port = where.port;
  if (c.tls) {
    // The server is a client of the broker: it needs the broker's trust chain.
    o.security = {};
    o.security.certificate = certs_dir() + "/ca.pem";
  }
  return o;
}

Endpoint MqttFixture::unreachable(const TransportCase&) { return {"127.0.0.1", free_port()}; }

netqueue::Options MqttFixture::client_options(const TransportCase& c, const Endpoint& server) {
  netqueue::Options o = nqtest::client_options(c, server.port);
  o.netloc.host = server.host;
  return o;
}

std::vector<TransportCase> mqtt_cases() {
  auto fixture = std::make_shared<MqttFixture>();
  return {{"mqtt", netqueue::Protocol::mqtt, false, {}, fixture},
          {"mqtt_tls", netqueue::Protocol::mqtt, true, {}, fixture}};
}

}  // namespace nqtest
