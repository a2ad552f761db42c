// The conformance suite: the same behaviour on every transport built
// (nqtest::conformance_cases()). Each case brings its fixture (what it needs
// around it, how its endpoints are named) and the registry's capabilities;
// where a transport differs, the test states it from a capability.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <future>
#include <netqueue/netqueue.hpp>
#include <random>
#include <thread>

#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

class Conformance : public testing::TestWithParam<TransportCase> {
 protected:
  const TransportCase& kind() const { return GetParam(); }
  Fixture& fixture() const { return *GetParam().fixture; }
  const netqueue::detail::Capabilities& can() const { return GetParam().capabilities; }

  Options server_options() const { return fixture().server_options(kind()); }
  Options client_options(const Endpoint& e) const { return fixture().client_options(kind(), e); }
  Options client_options(const Communicator& s) const { return client_options(fixture().endpoint_of(kind(), s)); }

  std::unique_ptr<Communicator> server(Options o) {
    return std::make_unique<Communicator>(kind().protocol, Purpose::server, std::move(o));
  }
  std::unique_ptr<Communicator> server() { return server(server_options()); }
  std::unique_ptr<Communicator> client(Options o) {
    return std::make_unique<Communicator>(kind().protocol, Purpose::client, std::move(o));
  }
  std::unique_ptr<Communicator> client(const Communicator& s) { return client(client_options(s)); }

  static Message get(Communicator& c, std::chrono::seconds timeout = 20s) {
    auto m = c.get_for(timeout);
    if (!m) throw std::runtime_error("no message within the timeout");
    return std::move(*m);
  }
};

TEST_P(Conformance, ClientAndServerExchangeHellosAndMessages) {
  auto s = server();
  auto c = client(*s);
  settled(c->put(text("ping"))).get();
  Message m = get(*s);
  EXPECT_EQ(m.peer, c->id());
  EXPECT_EQ(m.data.to_string(), "ping");
  EXPECT_FALSE(m.part);
  settled(s->put(text("pong"), c->id())).get();
  Message r = get(*c);
  EXPECT_EQ(r.peer, s->id());
  EXPECT_EQ(r.data.to_string(), "pong");
  EXPECT_EQ(c->peers(), std::vector<Id>{s->id()});
  EXPECT_EQ(s->peers(), std::vector<Id>{c->id()});
  c->close();
  EXPECT_TRUE(s->close_for(10s));
}

TEST_P(Conformance, PeerHooksReportJoiningAndLeaving) {
  std::promise<Id> joined, left;
  Options so = server_options();
  so.on_peer_joined = [&](const Id& id) { joined.set_value(id); };
  so.on_peer_left = [&](const Id& id) { left.set_value(id); };
  auto s = server(so);
  auto c = client(*s);
  c->put(text("x"));
  ASSERT_EQ(joined.get_future().wait_for(20s), std::future_status::ready);
  c->close();
  auto f = left.get_future();
  ASSERT_EQ(f.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(f.get(), c->id());
  EXPECT_TRUE(eventually([&] { return s->peers().empty(); })) << "the peer is still listed after leaving";
  s->close_for(5s);
}

TEST_P(Conformance, BroadcastReachesEveryClientAndTargetedPutsOnlyTheirPeer) {
  auto s = server();
  std::vector<std::unique_ptr<Communicator>> clients;
  for (int i = 0; i < 8; ++i) {
    clients.push_back(client(*s));
    settled(clients.back()->put(text("hi"))).get();
  }
  for (int i = 0; i < 8; ++i) get(*s);
  ASSERT_EQ(s->peers().size(), 8u);

  const std::string all = "to everyone";
  auto f = s->put(Stream::borrow(all));
  settled(f).get();
  EXPECT_EQ(f.results().size(), 8u);
  settled(s->put(text("only you"), clients[3]->id())).get();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(get(*clients[i]).data.to_string(), all);
    auto extra = clients[i]->get_for(i == 3 ? 20s : 100ms);
    if (i == 3) {
      ASSERT_TRUE(extra);
      EXPECT_EQ(extra->data.to_string(), "only you");
    } else {
      EXPECT_FALSE(extra) << "client " << i << " got a message meant for client 3";
    }
  }
  for (auto& c : clients) c->close();
  EXPECT_TRUE(s->close_for(10s));
}

TEST_P(Conformance, MixedSizesArriveByteForByteAndInOrder) {
  auto s = server();
  auto c = client(*s);
  // 1,000 messages, sizes log-uniform from 0 B to 8 MiB (1 MiB where the
  // transport is not heavy_ok: about 70 MB instead of 530), as views of one buffer.
  const std::size_t max = can().heavy_ok ? 8 * MiB : 1 * MiB;
  const auto source = pattern(max, 7);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> exponent(0.0, std::log2(double(max)));
  std::vector<std::size_t> sizes(1000);
  for (auto& n : sizes) n = rng() % 50 == 0 ? 0 : std::min(max, std::size_t(std::exp2(exponent(rng))));

  std::thread sender([&] {
    SendFuture last;
    for (std::size_t i = 0; i < sizes.size(); ++i)
      last = c->put(Stream::borrow(std::span(source).subspan(i % 64, std::min(sizes[i], max - i % 64))));
    settled(last, 120s).get();
  });
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    Message m = get(*s);
    const auto expected = std::span(source).subspan(i % 64, std::min(sizes[i], max - i % 64));
    ASSERT_EQ(m.data.size(), expected.size()) << "message " << i;
    ASSERT_TRUE(m.data.to_bytes() == std::vector<std::byte>(expected.begin(), expected.end())) << "message " << i;
  }
  sender.join();
  c->close();
  EXPECT_TRUE(s->close_for(10s));
}

TEST_P(Conformance, ManyConcurrentClientsEachSendAndReceive) {
  auto s = server();
  constexpr int clients = 32, per_client = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const Options co = client_options(*s);
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&, k] {
      try {
        Communicator c(kind().protocol, Purpose::client, co);
        for (int i = 0; i < per_client; ++i) c.put(Stream::adopt(std::to_string(k) + ":" + std::to_string(i)));
        for (int i = 0; i < per_client; ++i) {
          auto m = c.get_for(30s);
          if (!m || m->data.to_string() != "echo " + std::to_string(k) + ":" + std::to_string(i)) ++failures;
        }
        c.close();
      } catch (...) {
        ++failures;
      }
    });
  }
  std::map<Id, int> next;  // FIFO per peer
  for (int i = 0; i < clients * per_client; ++i) {
    Message m = get(*s, 60s);
    const std::string body = m.data.to_string();
    const int seq = std::stoi(body.substr(body.find(':') + 1));
    EXPECT_EQ(seq, next[m.peer]++) << "out of order from " << m.peer.str();
    s->put(Stream::adopt("echo " + body), m.peer);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(s->close_for(20s));
}

TEST_P(Conformance, GetAfterCloseDrainsThenFailsWithClosedError) {
  auto s = server();
  auto c = client(*s);
  settled(c->put(text("a"))).get();
  settled(c->put(text("b"))).get();
  ASSERT_TRUE(eventually([&] { return s->statistics().queued >= 2; })) << "the server never queued both messages";
  c->close();
  s->close();
  EXPECT_EQ(get(*s).data.to_string(), "a");
  EXPECT_EQ(get(*s).data.to_string(), "b");
  EXPECT_THROW(s->get(), ClosedError);
  EXPECT_THROW(s->try_get(), ClosedError);
  EXPECT_THROW(c->get(), ClosedError);
}

TEST_P(Conformance, CloseCompletesEvenWhenTheReceiveBoundPausedAPeer) {
  Options so = server_options();
  so.connection.receive_bound = 16 * KiB;
  auto s = server(so);
  auto c = client(*s);
  const auto data = pattern(4 * KiB, 5);
  SendFuture last;
  for (int i = 0; i < 64; ++i) last = c->put(Stream::borrow(data));  // 256 KiB: far past the bound
  ASSERT_TRUE(eventually([&] { return s->statistics().messages_in >= 4; })) << "the server never received anything";
  // Nobody calls get(): the server stops reading this client. Closing both
  // must still complete (the goodbye is read), and nothing is lost.
  std::thread closer([&] { c->close(); });
  EXPECT_TRUE(s->close_for(20s));
  closer.join();
  EXPECT_NO_THROW(settled(last).get());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(get(*s).data.to_bytes(), data) << "message " << i;
  EXPECT_THROW(s->get(), ClosedError);
}

TEST_P(Conformance, AReceiverThatTakesNothingHoldsTheSenderBack) {
  if (!can().back_pressure)
    GTEST_SKIP() << kind().name << " cannot hold a sender back (capability back_pressure)";
  Options so = server_options();
  so.connection.receive_bound = 64 * KiB;
  auto s = server(so);
  auto c = client(*s);
  // 64 MiB: far more than any transport holds in flight (socket buffers, the
  // inproc window, MQTT credit) past a 64 KiB receive bound.
  const auto data = pattern(256 * KiB, 21);
  std::vector<SendFuture> futures;
  for (int i = 0; i < 256; ++i) futures.push_back(c->put(Stream::borrow(data)));
  ASSERT_TRUE(eventually([&] { return s->statistics().messages_in > 0; })) << "the server never received anything";
  EXPECT_FALSE(futures.back().wait_for(1s)) << "64 MiB were taken by a receiver that takes nothing";
  for (int i = 0; i < 256; ++i) {
    Message m = get(*s);
    ASSERT_EQ(m.data.size(), data.size()) << "message " << i;
    ASSERT_TRUE(m.data.to_bytes() == data) << "message " << i;
  }
  for (auto& f : futures) EXPECT_NO_THROW(settled(f).get());
  c->close();
  EXPECT_TRUE(s->close_for(10s));
}

TEST_P(Conformance, CloseIsIdempotentAndPutAfterCloseFails) {
  auto s = server();
  auto c = client(*s);
  settled(c->put(text("x"))).get();
  c->close();
  c->close();
  EXPECT_TRUE(c->close_for(1s));
  auto f = c->put(text("late"));
  EXPECT_THROW(settled(f).get(), ClosedError);
  s->close();
  s->close();
}

TEST_P(Conformance, ServerCloseWithDeadlineCutsALingeringClient) {
  auto s = server();
  auto c = client(*s);
  settled(c->put(text("here"))).get();
  get(*s);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(s->close_for(300ms));  // the client never says goodbye
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  // The client sees its server gone: get fails, puts fail, nothing hangs.
  EXPECT_THROW(
      {
        while (true) c->get_for(20s);
      },
      ClosedError);
  EXPECT_THROW(settled(c->put(text("x"))).get(), ClosedError);
  c->close_for(5s);
}

TEST_P(Conformance, ClientStartedBeforeTheServerConnectsWhenItComesUp) {
  // An endpoint with no server yet; the server takes it a moment later.
  const Endpoint where = fixture().reserve(kind());
  auto c = client(client_options(where));
  auto f = c->put(text("early"));
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(f.ready());
  auto s = server(fixture().server_options_at(kind(), where));
  EXPECT_EQ(get(*s).data.to_string(), "early");
  EXPECT_NO_THROW(settled(f).get());
  c->close();
  EXPECT_TRUE(s->close_for(10s));
}

TEST_P(Conformance, AClientThatCannotConnectFailsWithinItsTimeout) {
  // Nobody at the endpoint: a reserved one without server (or, through a
  // broker, a broker address where nothing listens).
  Options co = client_options(fixture().unreachable(kind()));
  co.connection.connect_timeout = 300ms;
  auto c = client(co);
  auto f = c->put(text("never"));
  ASSERT_TRUE(f.wait_for(20s));
  try {
    settled(f).get();
    FAIL() << "the put succeeded without a server";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::connect_failed);
  }
  EXPECT_THROW(c->get(), Error);
}

TEST_P(Conformance, FuturesFailWithTheClosedErrorWhenThePeerDies) {
  if (!can().detects_peer_loss) GTEST_SKIP() << kind().name << " does not detect peer loss (capability detects_peer_loss)";
  auto s = server();
  auto c = client(*s);
  settled(c->put(text("hi"))).get();
  Message m = get(*s);
  // The client vanishes without a goodbye (as a killed process would).
  c->close_for(0s);
  c.reset();
  ASSERT_TRUE(eventually([&] { return s->peers().empty(); })) << "the server never noticed the client was gone";
  auto f = s->put(text("anyone?"), m.peer);
  try {
    settled(f).get();
    FAIL() << "put to a dead peer succeeded";
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.peer(), m.peer);
  }
  s->close_for(5s);
}

TEST_P(Conformance, AClientReconnectingWithItsIdIsTheSamePeer) {
  auto s = server();
  Options co = client_options(*s);
  co.id = Id::random();
  auto first = client(co);
  settled(first->put(text("one"))).get();
  settled(first->put(text("two"))).get();
  ASSERT_TRUE(eventually([&] { return s->statistics().queued >= 2; })) << "the server never queued both messages";
  first->close_for(0s);  // dropped, as a crashed process would be
  first.reset();
  ASSERT_TRUE(eventually([&] { return s->peers().empty(); })) << "the server never noticed the first client was gone";

  auto again = client(co);
  settled(again->put(text("three"))).get();
  // What the first connection sent is still there, then the new one's, all from one peer.
  for (const char* want : {"one", "two", "three"}) {
    Message m = get(*s);
    EXPECT_EQ(m.peer, *co.id);
    EXPECT_EQ(m.data.to_string(), want);
  }
  settled(s->put(text("welcome back"), *co.id)).get();
  EXPECT_EQ(get(*again).data.to_string(), "welcome back");
  again->close();
  EXPECT_TRUE(s->close_for(10s));
}

TEST_P(Conformance, MessagesOverMessageSizeArriveAsMarkedParts) {
  Options so = server_options();
  so.serialization.message_size = 1000;
  auto s = server(so);
  auto c = client(*s);
  const auto data = pattern(2500, 3);
  settled(c->put(Stream::borrow(data))).get();
  std::vector<std::byte> joined;
  for (std::uint64_t offset : {0, 1000, 2000}) {
    Message m = get(*s);
    ASSERT_TRUE(m.part);
    EXPECT_EQ(m.part->offset, offset);
    EXPECT_EQ(m.part->total, 2500u);
    EXPECT_EQ(m.part->last, offset == 2000);
    EXPECT_FALSE(m.truncated);
    auto bytes = m.data.to_bytes();
    joined.insert(joined.end(), bytes.begin(), bytes.end());
  }
  EXPECT_EQ(joined, data);
  c->close();
  s->close_for(5s);
}

TEST_P(Conformance, QueueSizeDropsAndCountsInsteadOfGrowing) {
  Options so = server_options();
  so.serialization.queue_size = 4;
  std::atomic<int> reports{0};
  so.log = [&](LogLevel level, std::string_view t) {
    if (level == LogLevel::warning && t.find("queue_size") != t.npos) ++reports;
  };
  auto s = server(so);
  auto c = client(*s);
  SendFuture last;
  for (int i = 0; i < 20; ++i) last = c->put(Stream::adopt(std::to_string(i)));
  settled(last).get();
  ASSERT_TRUE(eventually([&] { return s->statistics().messages_in >= 20; })) << "the server never received all 20";
  // Counted, then reported: both follow the arrival of the last message.
  EXPECT_TRUE(eventually([&] { return s->statistics().dropped >= 16 && reports.load() > 0; }))
      << "dropped " << s->statistics().dropped << ", reported " << reports.load() << " times";
  EXPECT_EQ(s->statistics().dropped, 16u);
  // The oldest were dropped: the newest four remain, in order.
  for (int i = 16; i < 20; ++i) EXPECT_EQ(get(*s).data.to_string(), std::to_string(i));
  c->close();
  s->close_for(5s);
}

TEST_P(Conformance, InvalidOptionsAreRejectedAtConstruction) {
  Options o = server_options();
  o.connection.max_size = 0;
  try {
    server(o);
    FAIL();
  } catch (const OptionError& e) {
    EXPECT_EQ(e.option(), "connection.max_size");
  }
  Options p = server_options();
  p.netloc.port = 65536;
  EXPECT_THROW(server(p), OptionError);
  Options t = server_options();
  t.security.key = "/nonexistent/key.pem";
  t.security.certificate = "/nonexistent/cert.pem";
  EXPECT_THROW(server(t), OptionError);
}

TEST_P(Conformance, TypedQueuesCarryStringsAndArrays) {
  auto s = server();
  auto c = client(*s);
  Queue<std::string> cs(*c), ss(*s);
  settled(cs.put(std::string("typed"))).get();
  auto item = ss.get_for(20s);
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "typed");
  Queue<std::vector<float>> cf(*c), sf(*s);
  const std::vector<float> values{1.5f, -2.0f, 3.25f};
  settled(cf.put(values)).get();  // sent from `values` itself, no copy
  auto floats = sf.get_for(20s);
  ASSERT_TRUE(floats);
  EXPECT_EQ(floats->value, values);
  c->close();
  s->close_for(5s);
}

INSTANTIATE_TEST_SUITE_P(Transports, Conformance, testing::ValuesIn(conformance_cases()), case_name);

}  // namespace
