// Heavy cases: hundreds of MiB. Labelled "heavy", kept out of the sanitizer run.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>

#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

class Heavy : public testing::TestWithParam<TransportCase> {};

TEST_P(Heavy, OneMessageOf256MiBArrivesWhole) {
  Communicator s(GetParam().protocol, Purpose::server, server_options(GetParam()));
  Communicator c(GetParam().protocol, Purpose::client, client_options(GetParam(), s.local_port()));
  const auto data = pattern(256 * MiB, 11);
  auto f = c.put(Stream::borrow(data));
  auto m = s.get_for(120s);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->part);
  ASSERT_EQ(m->data.size(), data.size());
  // Received straight into one buffer: one chunk, no reassembly.
  EXPECT_EQ(m->data.chunks(), 1u);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), m->data.contiguous().begin()));
  f.get();
  c.close();
  EXPECT_TRUE(s.close_for(10s));
}

INSTANTIATE_TEST_SUITE_P(Transports, Heavy, testing::ValuesIn(conformance_cases()), case_name);

}  // namespace
