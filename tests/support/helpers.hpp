// Shared test helpers: transport cases, options for 127.0.0.1, data patterns.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <netqueue/netqueue.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace nqtest {

// One row of the conformance suite: a protocol and its variant.
struct TransportCase {
  std::string name;
  netqueue::Protocol protocol;
  bool tls = false;
};
inline void PrintTo(const TransportCase& c, std::ostream* os) { *os << c.name; }
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

// A netqueue::Stream owning a copy of `text`.
inline netqueue::Stream text(std::string_view s) { return netqueue::Stream::copy_of(s); }

using namespace std::chrono_literals;

}  // namespace nqtest
