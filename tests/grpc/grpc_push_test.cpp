// Push, not poll: between netqueue peers the client keeps one call open and
// the server writes to it as soon as something is queued. A polling client
// (net-queue's backs off to 0.5 s) would see an idle server's message late.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

TEST(GrpcPush, AnIdleClientGetsTheServersMessageAtOnceOnItsOneCall) {
  const TransportCase c{"grpc", Protocol::grpc};
  Options so = server_options(c);
  // A call that ended would say so at debug level ("the session waits for the next one").
  std::atomic<int> resumable_ends{0};
  so.log = [quiet = quiet_log(), &resumable_ends](LogLevel level, std::string_view text) {
    if (text.find("waits for the next one") != std::string_view::npos) ++resumable_ends;
    quiet(level, text);
  };
  Communicator s(Protocol::grpc, Purpose::server, so);
  Communicator client(Protocol::grpc, Purpose::client, client_options(c, s.local_port()));
  settled(client.put(text("hi"))).get();
  ASSERT_TRUE(s.get_for(20s));

  std::vector<double> latencies_ms;
  for (int round = 0; round < 5; ++round) {
    std::this_thread::sleep_for(700ms);  // idle: a poller would have backed off by now
    const auto sent = std::chrono::steady_clock::now();
    s.put(text("ping " + std::to_string(round)), client.id());
    auto m = client.get_for(20s);
    ASSERT_TRUE(m) << "round " << round << ": the server's message never arrived";
    EXPECT_EQ(m->data.to_string(), "ping " + std::to_string(round));
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count());
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::printf("server to idle client: median %.2f ms, worst %.2f ms\n", latencies_ms[2], latencies_ms[4]);
  EXPECT_LT(latencies_ms[2], 200.0) << "the message waited as if the client polled";
  EXPECT_EQ(resumable_ends.load(), 0) << "the client's call ended and was made again (polling?)";
  EXPECT_TRUE(client.close_for(10s));
  EXPECT_TRUE(s.close_for(10s));
}

}  // namespace
