// Shared test helpers: transport cases, options for 127.0.0.1, data patterns.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <cstddef>
#include <cstdint>
#include <netqueue/netqueue.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "core/transport.hpp"

namespace nqtest {

struct TransportCase;

// Where a client reaches a server.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

// What a transport needs around it in tests (nothing, certificates, a broker)
// and how its endpoints are named. The default is a listening socket on
// 127.0.0.1 (tcp, tcp_tls, inproc); a broker-based transport overrides it.
class Fixture {
 public:
  virtual ~Fixture() = default;
  // Options for a server at a fresh endpoint.
  virtual netqueue::Options server_options(const TransportCase& c);
  // Where clients reach `server`.
  virtual Endpoint endpoint_of(const TransportCase& c, const netqueue::Communicator& server);
  // An endpoint with no server now, where server_options_at() can make one later.
  virtual Endpoint reserve(const TransportCase& c);
  virtual netqueue::Options server_options_at(const TransportCase& c, const Endpoint& where);
  // An endpoint where a client can never connect (default: reserve()).
  virtual Endpoint unreachable(const TransportCase& c) { return reserve(c); }
  virtual netqueue::Options client_options(const TransportCase& c, const Endpoint& server);
};

// One row of the conformance suite: a protocol, its variant, what the
// registry says it can do, and its fixture.
struct TransportCase {
  std::string name;
  netqueue::Protocol protocol;
  bool tls = false;
  netqueue::detail::Capabilities capabilities{};
  std::shared_ptr<Fixture> fixture = std::make_shared<Fixture>();
};
inline void PrintTo(const TransportCase& c, std::ostream* os) { *os << c.name; }
// Every case built into this library: inproc, tcp, tcp_tls, then what the
// transport test files add (mqtt_cases(), grpc_cases()).
std::vector<TransportCase> conformance_cases();
inline std::string case_name(const testing::TestParamInfo<TransportCase>& info) { return info.param.name; }

std::string certs_dir();  // scripts/gen-test-certs output (ca.pem, server.pem, server.key, other-ca.pem)
std::string wire_dir();   // ../shared/wire

// A server on 127.0.0.1, port 0 (the kernel picks; read it back with local_port()).
netqueue::Options server_options(const TransportCase& c);
// A client of a server listening on `port`.
netqueue::Options client_options(const TransportCase& c, std::uint16_t port);
// Log hook that keeps test output quiet but still shows errors.
netqueue::LogHook quiet_log();

// Deterministic bytes: the same (size, seed) always gives the same content.
std::vector<std::byte> pattern(std::size_t size, std::uint32_t seed);
std::vector<std::byte> read_file(const std::string& path);
// Resident memory of this process now, in bytes.
std::size_t rss_bytes();

// `f` once it is settled; throws (failing the test with a message) when it is
// still pending after `within`. Use as settled(c.put(x)).get().
const netqueue::SendFuture& settled(const netqueue::SendFuture& f,
                                    std::chrono::milliseconds within = std::chrono::seconds(20));

// Polls `done` every millisecond until it holds or `within` passes; false then.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds within = std::chrono::seconds(20));

// A netqueue::Stream owning a copy of `text`.
inline netqueue::Stream text(std::string_view s) { return netqueue::Stream::copy_of(s); }

using namespace std::chrono_literals;

}  // namespace nqtest
