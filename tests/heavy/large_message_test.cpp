// Heavy cases: hundreds of MiB. Labelled "heavy", kept out of the sanitizer run.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>

#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

class Heavy : public testing::TestWithParam<TransportCase> {};

TEST_P(Heavy, OneMessageOf256MiBArrivesWhole) {
  const TransportCase& kind = GetParam();
  if (!kind.capabilities.heavy_ok) GTEST_SKIP() << kind.name << " cannot carry 256 MiB in test time (capability heavy_ok)";
  Fixture& fixture = *kind.fixture;
  Communicator s(kind.protocol, Purpose::server, fixture.server_options(kind));
  Communicator c(kind.protocol, Purpose::client, fixture.client_options(kind, fixture.endpoint_of(kind, s)));
  const auto data = pattern(256 * MiB, 11);
  auto f = c.put(Stream::borrow(data));
  auto m = s.get_for(120s);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->part);
  ASSERT_EQ(m->data.size(), data.size());
  // Received straight into one buffer (a socket), or as the pieces it came in.
  if (GetParam().capabilities.one_buffer_per_message) {
    EXPECT_EQ(m->data.chunks(), 1u);
  }
  std::size_t at = 0;
  for (const Chunk& chunk : m->data) {
    ASSERT_TRUE(std::equal(chunk.bytes().begin(), chunk.bytes().end(), data.begin() + at)) << "at byte " << at;
    at += chunk.size();
  }
  settled(f, 120s).get();
  c.close();
  EXPECT_TRUE(s.close_for(10s));
}

INSTANTIATE_TEST_SUITE_P(Transports, Heavy, testing::ValuesIn(conformance_cases()), case_name);

}  // namespace
