#include "support/helpers.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <thread>

namespace nqtest {

#ifdef NETQUEUE_TEST_HAVE_MQTT
std::vector<TransportCase> mqtt_cases();  // support/mqtt_fixture.cpp
#endif
#ifdef NETQUEUE_TEST_HAVE_GRPC
std::vector<TransportCase> grpc_cases();  // support/grpc_fixture.cpp
#endif

std::vector<TransportCase> conformance_cases() {
  std::vector<TransportCase> cases{{"inproc", netqueue::Protocol::inproc}, {"tcp", netqueue::Protocol::tcp}};
#ifdef NETQUEUE_TEST_HAVE_TLS
  cases.push_back({"tcp_tls", netqueue::Protocol::tcp, true});
#endif
#ifdef NETQUEUE_TEST_HAVE_MQTT
  for (auto& c : mqtt_cases()) cases.push_back(std::move(c));
#endif
#ifdef NETQUEUE_TEST_HAVE_GRPC
  for (auto& c : grpc_cases()) cases.push_back(std::move(c));
#endif
  // What each transport can do, as the registry states it.
  std::erase_if(cases, [](const TransportCase& c) { return !netqueue::is_available(c.protocol); });
  for (auto& c : cases) c.capabilities = netqueue::detail::find_transport(c.protocol)->capabilities;
  return cases;
}

netqueue::Options Fixture::server_options(const TransportCase& c) { return nqtest::server_options(c); }

Endpoint Fixture::endpoint_of(const TransportCase&, const netqueue::Communicator& server) {
  return {"127.0.0.1", server.local_port()};
}

Endpoint Fixture::reserve(const TransportCase& c) {
  // A port the kernel (or the inproc space) just gave out, freed again.
  netqueue::Communicator probe(c.protocol, netqueue::Purpose::server, server_options(c));
  Endpoint e = endpoint_of(c, probe);
  probe.close();
  return e;
}

netqueue::Options Fixture::server_options_at(const TransportCase& c, const Endpoint& where) {
  netqueue::Options o = server_options(c);
  o.netloc.host = where.host;
  o.netloc.port = where.port;
  return o;
}

netqueue::Options Fixture::client_options(const TransportCase& c, const Endpoint& server) {
  netqueue::Options o = nqtest::client_options(c, server.port);
  o.netloc.host = server.host;
  return o;
}

const netqueue::SendFuture& settled(const netqueue::SendFuture& f, std::chrono::milliseconds within) {
  if (!f.wait_for(within))
    throw std::runtime_error("a put future was still pending after " + std::to_string(within.count()) + " ms");
  return f;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::string certs_dir() { return NETQUEUE_TEST_CERTS; }
std::string wire_dir() { return NETQUEUE_TEST_WIRE; }

netqueue::LogHook quiet_log() {
  // NETQUEUE_TEST_VERBOSE=1 shows everything, for a test that fails.
  const bool verbose = std::getenv("NETQUEUE_TEST_VERBOSE") != nullptr;
  return [verbose](netqueue::LogLevel level, std::string_view text) {
    if (verbose || level >= netqueue::LogLevel::error)
      fprintf(stderr, "[netqueue %s] %.*s\n", netqueue::to_string(level).data(), int(text.size()), text.data());
  };
}

netqueue::Options server_options(const TransportCase& c) {
  netqueue::Options o;
  o.netloc.host = "127.0.0.1";
  o.netloc.port = 0;
  o.log = quiet_log();
  if (c.tls) {
    o.security.key = certs_dir() + "/server.key";
    o.security.certificate = certs_dir() + "/server.pem";
  }
  return o;
}

netqueue::Options client_options(const TransportCase& c, std::uint16_t port) {
  netqueue::Options o;
  o.netloc.host = "127.0.0.1";
  o.netloc.port = port;
  o.connection.connect_timeout = std::chrono::seconds(20);
  o.log = quiet_log();
  if (c.tls) o.security.certificate = certs_dir() + "/ca.pem";
  return o;
}

std::vector<std::byte> pattern(std::size_t size, std::uint32_t seed) {
  std::vector<std::byte> out(size);
  std::uint64_t x = 0x9E3779B97F4A7C15ULL * (seed + 1);
  for (std::size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<std::byte>(x);
  }
  return out;
}

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(raw.size());
  std::memcpy(out.data(), raw.data(), raw.size());
  return out;
}

std::size_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return pages_resident * 4096;
}

}  // namespace nqtest
