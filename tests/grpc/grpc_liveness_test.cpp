// Dead-peer detection over gRPC (connection.keepalive, peer_timeout mapped
// onto HTTP/2 keepalive pings): a client whose host vanishes (every packet
// dropped: a blackhole route in a private network namespace, as
// tests/tcp/liveness_test.cpp does for TCP) is cut on both sides within the
// bound, its pending puts fail with ClosedError naming the peer, and the
// server keeps serving another client.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/helpers.hpp"
#include "support/netns.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const TransportCase plain{"grpc", Protocol::grpc};

TEST(GrpcLiveness, AVanishedClientIsCutOnBothSidesAndTheOthersAreServed) {
  if (!in_private_netns())
    return run_in_private_netns("GrpcLiveness", "AVanishedClientIsCutOnBothSidesAndTheOthersAreServed");
  ASSERT_NO_FATAL_FAILURE(bring_loopback_up());
  constexpr auto keepalive = 1s;
  constexpr auto peer_timeout = 4s;
  std::atomic<int> left{0};
  std::optional<Id> left_peer;
  std::mutex mutex;
  Options so = server_options(plain);
  so.netloc.host = "0.0.0.0";  // the namespace's own addresses only: nothing outside reaches it
  so.connection.keepalive = keepalive;
  so.connection.peer_timeout = peer_timeout;
  so.on_peer_left = [&](const Id& id) {
    std::lock_guard lock(mutex);
    left_peer = id;
    ++left;
  };
  Communicator server(Protocol::grpc, Purpose::server, so);
  auto client_at = [&](const char* host) {
    Options o = client_options(plain, server.local_port());
    o.netloc.host = host;
    o.connection.keepalive = keepalive;
    o.connection.peer_timeout = peer_timeout;
    return o;
  };
  Communicator victim(Protocol::grpc, Purpose::client, client_at("127.0.0.2"));
  ASSERT_NO_FATAL_FAILURE(round_trip(server, victim, "victim before"));
  Communicator bystander(Protocol::grpc, Purpose::client, client_at("127.0.0.1"));
  ASSERT_NO_FATAL_FAILURE(round_trip(server, bystander, "bystander before"));

  ASSERT_NO_FATAL_FAILURE(black_hole_127_0_0_2());
  const auto vanished = Clock::now();
  // More than gRPC's flow-control windows take: these cannot all be handed over.
  auto to_victim = server.put(Stream::adopt(std::vector<std::byte>(64 * MiB)), victim.id());
  auto from_victim = victim.put(Stream::adopt(std::vector<std::byte>(64 * MiB)));

  ASSERT_TRUE(eventually([&] { return left.load() > 0; }, 20s)) << "the server never noticed the vanished client";
  const auto noticed = Clock::now() - vanished;
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(left_peer, victim.id());
  }
  EXPECT_LE(noticed, peer_timeout + 5s) << "cut long after peer_timeout";
  ASSERT_NO_FATAL_FAILURE(expect_closed(to_victim, victim.id(), "the server's put to the vanished client"));
  ASSERT_NO_FATAL_FAILURE(expect_closed(from_victim, server.id(), "the vanished client's put"));

  ASSERT_NO_FATAL_FAILURE(round_trip(server, bystander, "bystander after"));
  EXPECT_EQ(server.peers(), std::vector<Id>{bystander.id()});
  EXPECT_EQ(left.load(), 1);
  EXPECT_TRUE(bystander.close_for(10s));
  victim.close_for(1s);
  EXPECT_TRUE(server.close_for(10s));
}

}  // namespace
