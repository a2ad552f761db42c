// Dead-peer detection over MQTT (connection.peer_timeout mapped onto the MQTT
// keepalive, mqtt.keepalive unset): a client whose host vanishes (every packet
// it sends dropped: a blackhole route in a private network namespace, as
// tests/tcp/liveness_test.cpp does for TCP) is cut on both sides within the
// bound: the broker hears nothing for 1.5x the keepalive and publishes the
// client's will, which ends its session on the server; the client's Paho
// loses the broker. Pending puts fail with ClosedError naming the peer, and
// the server keeps serving another client.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <netqueue/netqueue.hpp>
#include <optional>
#include <string>
#include <vector>

#include "support/helpers.hpp"
#include "support/mqtt_fixture.hpp"
#include "support/netns.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const TransportCase plain{"mqtt", Protocol::mqtt};

TEST(MqttLiveness, AVanishedClientIsCutOnBothSidesAndTheOthersAreServed) {
  if (!in_private_netns())
    return run_in_private_netns("MqttLiveness", "AVanishedClientIsCutOnBothSidesAndTheOthersAreServed");
  ASSERT_NO_FATAL_FAILURE(bring_loopback_up());
  // The namespace's own addresses only: 127.0.0.2 reaches it until the black hole.
  Broker broker("0.0.0.0");
  broker.start();
  // peer_timeout 3 s: an MQTT keepalive of 2 s, the broker cuts after 3 s of silence.
  constexpr auto peer_timeout = 3s;
  auto at = [&](const char* host) {
    Options o = client_options(plain, broker.port());
    o.netloc.host = host;
    o.connection.keepalive = 1s;
    o.connection.peer_timeout = peer_timeout;
    return o;
  };
  std::atomic<int> left{0};
  std::optional<Id> left_peer;
  std::mutex mutex;
  Options so = at("127.0.0.1");
  so.on_peer_left = [&](const Id& id) {
    std::lock_guard lock(mutex);
    left_peer = id;
    ++left;
  };
  Communicator server(Protocol::mqtt, Purpose::server, so);
  Communicator victim(Protocol::mqtt, Purpose::client, at("127.0.0.2"));
  ASSERT_NO_FATAL_FAILURE(round_trip(server, victim, "victim before"));
  Communicator bystander(Protocol::mqtt, Purpose::client, at("127.0.0.1"));
  ASSERT_NO_FATAL_FAILURE(round_trip(server, bystander, "bystander before"));

  ASSERT_NO_FATAL_FAILURE(black_hole_127_0_0_2());
  const auto vanished = Clock::now();
  // Beyond the credit window (the victim's credit cannot come back) and never
  // acknowledged (the victim's publishes go nowhere): neither can succeed.
  auto to_victim = server.put(Stream::adopt(std::vector<std::byte>(64 * MiB)), victim.id());
  auto from_victim = victim.put(Stream::adopt(std::vector<std::byte>(4 * MiB)));

  ASSERT_TRUE(eventually([&] { return left.load() > 0; }, 20s)) << "the server never noticed the vanished client";
  const auto noticed = Clock::now() - vanished;
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(left_peer, victim.id());
  }
  // The broker decides when: mosquitto 2.0.11 cut an idle victim 3.0 s after
  // its last packet (1.5x the keepalive), and this one, which it was still
  // writing the server's 32 MiB to, 8.6 s after (measured).
  EXPECT_LE(noticed, peer_timeout + 8s) << "cut long after peer_timeout";
  ASSERT_NO_FATAL_FAILURE(expect_closed(to_victim, victim.id(), "the server's put to the vanished client"));
  ASSERT_NO_FATAL_FAILURE(expect_closed(from_victim, server.id(), "the vanished client's put"));

  ASSERT_NO_FATAL_FAILURE(round_trip(server, bystander, "bystander after"));
  EXPECT_EQ(server.peers(), std::vector<Id>{bystander.id()});
  EXPECT_EQ(left.load(), 1);
  EXPECT_TRUE(bystander.close_for(10s));
  victim.close_for(1s);
  EXPECT_TRUE(server.close_for(10s));
}

TEST(MqttLiveness, TheKeepaliveFollowsPeerTimeoutUnlessSet) {
  // Only its bounds are checked at construction; the mapping is exercised above.
  Options o = client_options(plain, 1883);
  o.mqtt.keepalive = std::chrono::seconds(65536);
  try {
    Communicator c(Protocol::mqtt, Purpose::client, o);
    FAIL() << "an MQTT keepalive over 65535 s was accepted";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.option(), "mqtt.keepalive") << e.what();
  }
}

}  // namespace
