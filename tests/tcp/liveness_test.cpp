// Dead-peer detection (connection.keepalive, connection.peer_timeout): a peer
// whose host vanishes (no FIN, no RST: its packets simply stop) is cut with
// errc::timeout within peer_timeout, its pending puts fail naming it, and the
// server keeps serving the others; a healthy peer, idle or not reading, is
// never cut.
//
// A vanished host is made for real: the test runs itself again inside a
// private network namespace (unshare -n, as root), where the victim reaches
// the server at 127.0.0.2 and a blackhole route for that address then drops
// every packet between them, while the bystander at 127.0.0.1 is untouched.
#include <gtest/gtest.h>

#include <cstdlib>
#include <netqueue/netqueue.hpp>
#include <string>
#include <vector>

#include "support/netns.hpp"
#include "tcp/tcp_support.hpp"

namespace {

using namespace nqtest;
using namespace std::chrono_literals;
using netqueue::ClosedError;
using netqueue::Communicator;
using netqueue::errc;
using netqueue::Id;
using netqueue::LogLevel;
using netqueue::MiB;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;
using Clock = std::chrono::steady_clock;

void with_detection(Options& o, std::chrono::milliseconds keepalive, std::chrono::milliseconds peer_timeout) {
  o.connection.keepalive = keepalive;
  o.connection.peer_timeout = peer_timeout;
}

// Puts one message each way between `server` and `client` and checks them.
void round_trip(Communicator& server, Tap& tap, Communicator& client, const std::string& tag) {
  auto up = client.put(text("up " + tag));
  auto m = tap.next_from(client.id(), ms(10000));
  ASSERT_TRUE(m) << tag << ": the server got nothing";
  EXPECT_EQ(text_of(*m), "up " + tag);
  auto down = server.put(text("down " + tag), client.id());
  auto r = client.get_for(ms(10000));
  ASSERT_TRUE(r) << tag << ": the client got nothing";
  EXPECT_EQ(text_of(*r), "down " + tag);
  ASSERT_TRUE(up.wait_for(ms(10000)) && down.wait_for(ms(10000))) << tag;
  EXPECT_NO_THROW(up.get());
  EXPECT_NO_THROW(down.get());
}

void expect_timeout(const netqueue::SendFuture& f, const Id& peer, const std::string& what) {
  ASSERT_TRUE(f.wait_for(ms(15000))) << what << " never ended";
  try {
    f.get();
    ADD_FAILURE() << what << " succeeded";
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.value(), errc::timeout) << what << ": " << e.what();
    EXPECT_EQ(e.peer(), peer) << what << ": " << e.what();
    EXPECT_TRUE(e.cause() == std::errc::timed_out) << what << ": " << e.cause().message();
  }
}

// `busy`: puts wait for the victim when it vanishes (the senders' own
// watch: no acknowledgement for peer_timeout); otherwise the connection is
// idle (the kernel's keepalive probes go unanswered).
void vanished_client(bool busy) {
  ASSERT_NO_FATAL_FAILURE(bring_loopback_up());

  constexpr auto keepalive = 1s;
  constexpr auto peer_timeout = 5s;
  LogCapture log;
  PeerEvents events;
  Options so = server_options(plain_tcp());
  so.netloc.host = "0.0.0.0";  // the namespace's own addresses only: nothing outside reaches it
  with_detection(so, keepalive, peer_timeout);
  so.log = log.hook();
  events.install(so);
  Communicator server(Protocol::tcp, Purpose::server, so);
  Tap tap(server);

  auto client_at = [&](const char* host) {
    Options o = client_options(plain_tcp(), server.local_port());
    o.netloc.host = host;
    with_detection(o, keepalive, peer_timeout);
    o.log = quiet_log();
    return o;
  };
  Communicator victim(Protocol::tcp, Purpose::client, client_at("127.0.0.2"));
  Communicator bystander(Protocol::tcp, Purpose::client, client_at("127.0.0.1"));
  ASSERT_NO_FATAL_FAILURE(round_trip(server, tap, victim, "victim before"));
  ASSERT_NO_FATAL_FAILURE(round_trip(server, tap, bystander, "bystander before"));

  // The victim's host vanishes: every packet to or from 127.0.0.2 is dropped.
  ASSERT_NO_FATAL_FAILURE(black_hole_127_0_0_2());
  const auto vanished = Clock::now();
  // Far more than the socket buffers take: these cannot be handed over.
  std::optional<netqueue::SendFuture> to_victim, from_victim;
  if (busy) {
    to_victim = server.put(netqueue::Stream::adopt(std::vector<std::byte>(64 * MiB)), victim.id());
    from_victim = victim.put(netqueue::Stream::adopt(std::vector<std::byte>(64 * MiB)));
  }

  ASSERT_TRUE(events.wait_left(victim.id(), ms(15000))) << "the server never noticed the vanished client\n"
                                                       << log.dump();
  const auto noticed = Clock::now() - vanished;
  EXPECT_GE(noticed, peer_timeout - 500ms) << "cut before peer_timeout";
  EXPECT_LE(noticed, peer_timeout + 3s) << "cut long after peer_timeout";
  // The departure is logged right after the peer-left hook: wait for it.
  EXPECT_TRUE(log.wait_for(LogLevel::warning, {victim.id().str(), "no answer from", "peer_timeout"}, ms(5000)))
      << log.dump();
  if (busy) {
    ASSERT_NO_FATAL_FAILURE(expect_timeout(*to_victim, victim.id(), "the server's put to the vanished client"));
    // The victim, cut off too, finds its server gone the same way.
    ASSERT_NO_FATAL_FAILURE(expect_timeout(*from_victim, server.id(), "the vanished client's put"));
  } else {
    try {
      auto m = victim.get_for(ms(15000));
      ADD_FAILURE() << (m ? "a message reached the vanished client" : "the vanished client never noticed");
    } catch (const ClosedError& e) {
      EXPECT_EQ(e.value(), errc::timeout) << e.what();
      EXPECT_EQ(e.peer(), server.id()) << e.what();
    }
  }

  // The bystander never noticed.
  ASSERT_NO_FATAL_FAILURE(round_trip(server, tap, bystander, "bystander after"));
  EXPECT_EQ(server.peers(), std::vector<Id>{bystander.id()});
  EXPECT_EQ(events.left_count(bystander.id()), 0u);
  EXPECT_TRUE(bystander.close_for(10s));
  EXPECT_FALSE(victim.close_for(1s)) << "a client cut off from its server closed gracefully";
  EXPECT_TRUE(server.close_for(10s)) << log.dump();
}

TEST(Liveness, AVanishedBusyClientIsCutWithTimeoutAndTheOthersAreServed) {
  if (!in_private_netns()) return run_in_private_netns("Liveness", "AVanishedBusyClientIsCutWithTimeoutAndTheOthersAreServed");
  vanished_client(true);
}

TEST(Liveness, AVanishedIdleClientIsCutWithTimeoutAndTheOthersAreServed) {
  if (!in_private_netns()) return run_in_private_netns("Liveness", "AVanishedIdleClientIsCutWithTimeoutAndTheOthersAreServed");
  vanished_client(false);
}

// Probes are answered by the peer's kernel: a peer that is idle, or that
// reads nothing while data waits for it (a zero receive window), stays
// connected through several peer_timeouts.
TEST(Liveness, AHealthyPeerIdleOrNotReadingIsNeverCut) {
  constexpr auto keepalive = 1s;
  constexpr auto peer_timeout = 2s;
  LogCapture log;
  PeerEvents events;
  Options so = server_options(plain_tcp());
  with_detection(so, keepalive, peer_timeout);
  so.log = log.hook();
  events.install(so);
  Communicator server(Protocol::tcp, Purpose::server, so);
  Tap tap(server);
  Options co = client_options(plain_tcp(), server.local_port());
  with_detection(co, keepalive, peer_timeout);
  // Parts of 64 KiB count against a 64 KiB receive bound: the client stops
  // reading at once (a whole message in progress would be read to its end).
  co.connection.receive_bound = 64 * 1024;
  co.serialization.message_size = 64 * 1024;
  co.log = quiet_log();
  Communicator client(Protocol::tcp, Purpose::client, co);
  ASSERT_NO_FATAL_FAILURE(round_trip(server, tap, client, "before"));

  // Idle for 2.5 peer timeouts.
  std::this_thread::sleep_for(5s);
  ASSERT_NO_FATAL_FAILURE(round_trip(server, tap, client, "after idling"));

  // Not reading while 64 MiB wait for it: the sender sees a zero window.
  auto big = server.put(netqueue::Stream::adopt(std::vector<std::byte>(64 * MiB, std::byte{7})), client.id());
  std::this_thread::sleep_for(5s);
  EXPECT_FALSE(big.wait_for(ms(0))) << "64 MiB were handed over to a client that read nothing";
  std::size_t got = 0;
  while (got < 64 * MiB) {
    auto m = client.get_for(ms(10000));
    ASSERT_TRUE(m) << "the client, reading again, got " << got << " bytes of 64 MiB\n" << log.dump();
    ASSERT_TRUE(m->part && !m->truncated) << m->data.size() << " bytes, " << (m->part ? "a part" : "whole");
    got += m->data.size();
  }
  ASSERT_TRUE(big.wait_for(ms(10000)));
  EXPECT_NO_THROW(big.get());
  ASSERT_NO_FATAL_FAILURE(round_trip(server, tap, client, "after not reading"));

  EXPECT_EQ(events.left_count(client.id()), 0u) << "a healthy client was cut\n" << log.dump();
  EXPECT_TRUE(client.close_for(10s));
  EXPECT_TRUE(server.close_for(10s)) << log.dump();
}

TEST(Liveness, DetectionOptionsAreValidated) {
  Options o = server_options(plain_tcp());
  o.connection.keepalive = 500ms;
  EXPECT_THROW(Communicator(Protocol::tcp, Purpose::server, o), netqueue::OptionError);
  o.connection.keepalive = 5s;
  o.connection.peer_timeout = 5s;
  try {
    Communicator c(Protocol::tcp, Purpose::server, o);
    ADD_FAILURE() << "a peer_timeout no longer than keepalive was accepted";
  } catch (const netqueue::OptionError& e) {
    EXPECT_EQ(e.option(), "connection.peer_timeout") << e.what();
  }
  o.connection.peer_timeout = 0s;  // detection off
  Communicator off(Protocol::tcp, Purpose::server, o);
  EXPECT_TRUE(off.close_for(1s));
}

}  // namespace
