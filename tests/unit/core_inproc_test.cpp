// The core without sockets: Core driven by the inproc transport. Every wait
// has a deadline, so a broken core fails a test instead of hanging it.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "netqueue/error.hpp"
#include "core/core.hpp"
#include "support/helpers.hpp"

namespace {

using namespace std::chrono_literals;
using netqueue::ClosedError;
using netqueue::Id;
using netqueue::Message;
using netqueue::Options;
using netqueue::SendFuture;
using netqueue::Stream;
using netqueue::detail::Core;
using Clock = std::chrono::steady_clock;

constexpr auto patience = 5s;  // how long anything that should happen may take

bool eventually(const std::function<bool()>& done) { return nqtest::eventually(done, patience); }

// Thread-safe records of hook calls.
class Events {
 public:
  netqueue::PeerHook peer_hook() {
    return [this](const Id& id) {
      std::lock_guard lock(mutex_);
      ids_.push_back(id);
    };
  }
  netqueue::LogHook log_hook() {
    return [this](netqueue::LogLevel, std::string_view text) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(text);
    };
  }
  std::vector<Id> ids() const {
    std::lock_guard lock(mutex_);
    return ids_;
  }
  bool logged(std::string_view needle) const {
    std::lock_guard lock(mutex_);
    return std::any_of(lines_.begin(), lines_.end(), [&](const std::string& l) { return l.find(needle) != l.npos; });
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Id> ids_;
  std::vector<std::string> lines_;
};

Options quiet() {
  Options o;
  o.log = nqtest::quiet_log();
  return o;
}

std::optional<Message> get_within(Core& c, std::chrono::milliseconds within = patience) {
  return c.get_until(Clock::now() + within);
}

std::string text_of(const Message& m) { return m.data.to_string(); }

class CoreInproc : public testing::Test {
 protected:
  // Every test has an inproc endpoint of its own.
  std::unique_ptr<Core> server(Options o = quiet()) {
    o.netloc.host = host_;
    o.netloc.port = 1;
    return std::make_unique<Core>(netqueue::Protocol::inproc, netqueue::Purpose::server, std::move(o));
  }
  std::unique_ptr<Core> client(Options o = quiet()) {
    o.netloc.host = host_;
    o.netloc.port = 1;
    return std::make_unique<Core>(netqueue::Protocol::inproc, netqueue::Purpose::client, std::move(o));
  }
  // A client whose hello both sides have seen.
  std::unique_ptr<Core> connected_client(Core& srv, Options o = quiet()) {
    auto c = client(std::move(o));
    const Id id = c->id();
    EXPECT_TRUE(eventually([&] {
      auto p = srv.peers();
      return std::find(p.begin(), p.end(), id) != p.end() && c->peers().size() == 1;
    }));
    return c;
  }

  const std::string host_ = testing::UnitTest::GetInstance()->current_test_info()->name();
};

TEST_F(CoreInproc, HelloGoesBothWaysAndEachSideKnowsTheOther) {
  Events server_joined, client_joined;
  Options so = quiet();
  so.on_peer_joined = server_joined.peer_hook();
  auto srv = server(std::move(so));
  Options co = quiet();
  co.on_peer_joined = client_joined.peer_hook();
  auto cli = client(std::move(co));

  // The peer is listed, then its hook runs: wait for both.
  ASSERT_TRUE(eventually([&] {
    return srv->peers().size() == 1 && cli->peers().size() == 1 && server_joined.ids().size() == 1 &&
           client_joined.ids().size() == 1;
  }));
  EXPECT_EQ(srv->peers(), std::vector<Id>{cli->id()});
  EXPECT_EQ(cli->peers(), std::vector<Id>{srv->id()});
  EXPECT_EQ(server_joined.ids(), std::vector<Id>{cli->id()});
  EXPECT_EQ(client_joined.ids(), std::vector<Id>{srv->id()});
  EXPECT_EQ(srv->statistics().peers, 1u);
}

TEST_F(CoreInproc, TenThousandSmallMessagesArriveInOrderBothWays) {
  constexpr int count = 10'000;
  auto srv = server();
  auto cli = connected_client(*srv);
  for (int i = 0; i < count; ++i) {
    cli->put(nqtest::text("c" + std::to_string(i)), {});
    const Id to = cli->id();
    srv->put(nqtest::text("s" + std::to_string(i)), std::span(&to, 1));
  }
  for (int i = 0; i < count; ++i) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m) << "message " << i << " did not arrive";
    ASSERT_EQ(text_of(*m), "c" + std::to_string(i));
    ASSERT_EQ(m->peer, cli->id());
  }
  for (int i = 0; i < count; ++i) {
    auto m = get_within(*cli);
    ASSERT_TRUE(m) << "message " << i << " did not arrive";
    ASSERT_EQ(text_of(*m), "s" + std::to_string(i));
    ASSERT_EQ(m->peer, srv->id());
  }
}

TEST_F(CoreInproc, FuturesResolveOnceHandedOverAndStatisticsCountThem) {
  constexpr std::size_t count = 100, size = 1000;
  auto srv = server();
  auto cli = connected_client(*srv);
  std::vector<SendFuture> futures;
  for (std::size_t i = 0; i < count; ++i)
    futures.push_back(cli->put(Stream::adopt(nqtest::pattern(size, static_cast<std::uint32_t>(i))), {}));
  for (auto& f : futures) {
    ASSERT_TRUE(f.wait_for(patience));
    EXPECT_NO_THROW(f.get());
  }
  const auto out = cli->statistics();
  EXPECT_EQ(out.messages_out, count) << "data messages only: not the hello";
  EXPECT_EQ(out.bytes_out, count * size) << "payload bytes only";

  for (std::size_t i = 0; i < count; ++i) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->data.to_bytes(), nqtest::pattern(size, static_cast<std::uint32_t>(i)));
  }
  const auto in = srv->statistics();
  EXPECT_EQ(in.messages_in, count) << "data messages only: not the hello";
  EXPECT_EQ(in.bytes_in, count * size) << "payload bytes only";
  EXPECT_EQ(in.queued, 0u);
}

TEST_F(CoreInproc, BroadcastReachesThreeClientsFromOneSerializedStreamWithoutACopy) {
  // Large enough not to be merged (copied): every client must receive the
  // very memory the server's caller handed over.
  auto owned = std::make_shared<const std::vector<std::byte>>(nqtest::pattern(256 * 1024, 7));
  const std::vector<std::byte>& payload = *owned;
  auto srv = server();
  auto a = connected_client(*srv), b = connected_client(*srv), c = connected_client(*srv);
  ASSERT_EQ(srv->peers().size(), 3u);

  auto future = srv->put(Stream(netqueue::Chunk::adopt(owned, std::span(payload))), {});
  ASSERT_TRUE(future.wait_for(patience));
  EXPECT_NO_THROW(future.get());
  EXPECT_EQ(future.results().size(), 3u);
  for (Core* cli : {a.get(), b.get(), c.get()}) {
    auto m = get_within(*cli);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->peer, srv->id());
    EXPECT_EQ(m->data.to_bytes(), payload);
    for (const netqueue::Chunk& chunk : m->data)
      EXPECT_TRUE(chunk.data() >= payload.data() && chunk.data() + chunk.size() <= payload.data() + payload.size())
          << "a chunk of the received message is a copy, not the sender's memory";
  }
}

TEST_F(CoreInproc, BorrowedBytesAreNeverSeenByTheReceiverAfterTheFutureResolved) {
  auto srv = server();
  auto cli = connected_client(*srv);
  auto bytes = std::make_unique<std::vector<std::byte>>(nqtest::pattern(64 * 1024, 9));
  const auto expected = *bytes;
  auto f = cli->put(Stream::borrow(std::span(*bytes)), {});
  ASSERT_TRUE(f.wait_for(patience));
  EXPECT_NO_THROW(f.get());
  bytes.reset();  // the caller may free its memory now (ASan reports any later read)
  auto m = get_within(*srv);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data.to_bytes(), expected);
}

TEST_F(CoreInproc, TargetedPutReachesOnlyTheNamedClient) {
  auto srv = server();
  auto a = connected_client(*srv), b = connected_client(*srv);
  const Id to = a->id();
  EXPECT_NO_THROW(srv->put(nqtest::text("for a"), std::span(&to, 1)).get());
  auto m = get_within(*a);
  ASSERT_TRUE(m);
  EXPECT_EQ(text_of(*m), "for a");
  srv->put(nqtest::text("for all"), {});
  auto n = get_within(*b);
  ASSERT_TRUE(n);
  EXPECT_EQ(text_of(*n), "for all") << "b got what was meant for a";
}

TEST_F(CoreInproc, PutToAnUnknownPeerFailsWithClosedErrorNamingIt) {
  auto srv = server();
  const Id stranger = Id::random();
  auto f = srv->put(nqtest::text("hello?"), std::span(&stranger, 1));
  ASSERT_TRUE(f.wait_for(patience));
  try {
    f.get();
    FAIL() << "a put to an unknown peer resolved";
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.peer(), stranger);
    EXPECT_NE(std::string(e.what()).find(stranger.str()), std::string::npos) << e.what();
  }
}

TEST_F(CoreInproc, ClientCloseHandsOverQueuedPutsThenGoodbyesEndTheSession) {
  Events left;
  Options so = quiet();
  so.on_peer_left = left.peer_hook();
  auto srv = server(std::move(so));
  auto cli = connected_client(*srv);
  std::vector<SendFuture> futures;
  for (int i = 0; i < 100; ++i) futures.push_back(cli->put(nqtest::text("m" + std::to_string(i)), {}));
  EXPECT_TRUE(cli->close_for(patience));
  for (auto& f : futures) {
    ASSERT_TRUE(f.ready()) << "close returned with a put not handed over";
    EXPECT_NO_THROW(f.get());
  }
  for (int i = 0; i < 100; ++i) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m);
    EXPECT_EQ(text_of(*m), "m" + std::to_string(i));
  }
  ASSERT_TRUE(eventually([&] { return left.ids().size() == 1; }));
  EXPECT_EQ(left.ids(), std::vector<Id>{cli->id()});
  EXPECT_TRUE(srv->peers().empty());
  EXPECT_TRUE(srv->close_for(patience));
}

TEST_F(CoreInproc, GetAfterCloseDrainsWhatCameThenThrowsClosedError) {
  auto srv = server();
  auto cli = connected_client(*srv);
  for (int i = 0; i < 3; ++i) cli->put(nqtest::text("m" + std::to_string(i)), {});
  ASSERT_TRUE(eventually([&] { return srv->statistics().queued == 3; }));
  EXPECT_TRUE(cli->close_for(patience));
  EXPECT_THROW(get_within(*cli), ClosedError);
  EXPECT_TRUE(srv->close_for(patience));
  for (int i = 0; i < 3; ++i) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m);
    EXPECT_EQ(text_of(*m), "m" + std::to_string(i));
  }
  EXPECT_THROW(get_within(*srv), ClosedError);
  EXPECT_THROW(get_within(*srv), ClosedError) << "stays closed";
  EXPECT_THROW(srv->put(nqtest::text("late"), {}).get(), ClosedError);
}

TEST_F(CoreInproc, CloseIsIdempotentAndMayBeCalledFromThreadsAtOnce) {
  auto srv = server();
  auto cli = connected_client(*srv);
  std::atomic<int> graceful{0};
  std::vector<std::thread> closers;
  for (int i = 0; i < 3; ++i) closers.emplace_back([&] { graceful += cli->close_for(patience) ? 1 : 0; });
  for (auto& t : closers) t.join();
  EXPECT_EQ(graceful.load(), 3);
  EXPECT_TRUE(cli->close_for(patience));
  EXPECT_TRUE(srv->close_for(patience));
  EXPECT_TRUE(srv->close_for(0ns));
}

TEST_F(CoreInproc, ServerCloseDeadlineCutsALingeringClientAndFailsItsPendingWork) {
  Options so = quiet();
  so.connection.max_size = 4096;
  auto srv = server(std::move(so));
  Options co = quiet();
  co.connection.receive_bound = 1024;  // the client takes little, so the server's puts stay pending
  auto cli = connected_client(*srv, std::move(co));
  std::vector<SendFuture> futures;
  for (int i = 0; i < 200; ++i) futures.push_back(srv->put(Stream::adopt(nqtest::pattern(1024, i)), {}));
  ASSERT_FALSE(futures.back().wait_for(100ms)) << "flow control should hold the last put back";

  const auto start = Clock::now();
  EXPECT_FALSE(srv->close_for(100ms)) << "the client never said goodbye";
  EXPECT_LT(Clock::now() - start, 2s);

  ASSERT_TRUE(futures.back().wait_for(patience));
  EXPECT_THROW(futures.back().get(), ClosedError);
  // What had come before is still there, then the end.
  bool ended = false;
  for (int i = 0; i < 300 && !ended; ++i) {
    try {
      ASSERT_TRUE(get_within(*cli)) << "get hung on a client whose server is gone";
    } catch (const ClosedError&) {
      ended = true;
    }
  }
  EXPECT_TRUE(ended);
  EXPECT_THROW(cli->put(nqtest::text("late"), {}).get(), ClosedError);
}

TEST_F(CoreInproc, AClientMadeBeforeItsServerConnectsWhenTheServerAppears) {
  Options co = quiet();
  co.connection.connect_timeout = patience;
  auto cli = client(std::move(co));
  auto early = cli->put(nqtest::text("early"), {});
  EXPECT_FALSE(early.wait_for(50ms)) << "handed over with no server";
  auto srv = server();
  ASSERT_TRUE(early.wait_for(patience));
  EXPECT_NO_THROW(early.get());
  auto m = get_within(*srv);
  ASSERT_TRUE(m);
  EXPECT_EQ(text_of(*m), "early");
  EXPECT_EQ(m->peer, cli->id());
}

TEST_F(CoreInproc, AClientWithNoServerFailsWithConnectFailedAfterTheTimeout) {
  Options co = quiet();
  co.connection.connect_timeout = 200ms;
  co.log = [](netqueue::LogLevel, std::string_view) {};  // the failure is expected
  const auto start = Clock::now();
  auto cli = client(std::move(co));
  auto f = cli->put(nqtest::text("nobody"), {});
  try {
    get_within(*cli);
    FAIL() << "get returned with no server";
  } catch (const netqueue::Error& e) {
    EXPECT_EQ(e.value(), netqueue::errc::connect_failed) << e.what();
  }
  const auto took = Clock::now() - start;
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 3s);
  ASSERT_TRUE(f.wait_for(patience));
  try {
    f.get();
    FAIL() << "a put with no server resolved";
  } catch (const netqueue::Error& e) {
    EXPECT_EQ(e.value(), netqueue::errc::connect_failed) << e.what();
  }
}

TEST_F(CoreInproc, QueueSizeDropsTheOldestCountsAndReportsIt) {
  Events log;
  Options so = quiet();
  so.serialization.queue_size = 2;
  so.log = log.log_hook();
  auto srv = server(std::move(so));
  auto cli = connected_client(*srv);
  for (int i = 0; i < 5; ++i) cli->put(nqtest::text("m" + std::to_string(i)), {});
  // Counted as received, then dropped, then reported: wait for the last.
  ASSERT_TRUE(eventually([&] { return srv->statistics().dropped >= 3 && log.logged("queue_size"); }))
      << "dropped " << srv->statistics().dropped << "; a drop must not be silent";
  EXPECT_EQ(srv->statistics().messages_in, 5u);
  EXPECT_EQ(srv->statistics().dropped, 3u);
  EXPECT_EQ(srv->statistics().queued, 2u);
  for (int i : {3, 4}) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m);
    EXPECT_EQ(text_of(*m), "m" + std::to_string(i));
  }
  EXPECT_FALSE(get_within(*srv, 20ms));
}

TEST_F(CoreInproc, ReceiveBoundHoldsTheSenderBackUntilGetDrains) {
  constexpr int count = 100;
  Options so = quiet();
  so.connection.receive_bound = 1024;
  auto srv = server(std::move(so));
  Options co = quiet();
  co.connection.max_size = 4096;
  auto cli = connected_client(*srv, std::move(co));
  std::vector<SendFuture> futures;
  for (int i = 0; i < count; ++i) futures.push_back(cli->put(Stream::adopt(nqtest::pattern(1024, i)), {}));

  ASSERT_FALSE(futures.back().wait_for(100ms)) << "the slow consumer did not hold the sender back";
  const auto held = srv->statistics();
  EXPECT_LT(held.messages_in, static_cast<std::uint64_t>(count));
  EXPECT_LE(held.bytes_in, 2 * 4096u + 16u) << "the server kept taking pieces past its receive bound";

  for (int i = 0; i < count; ++i) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m) << "message " << i << " never came";
    ASSERT_EQ(m->data.to_bytes(), nqtest::pattern(1024, i)) << "message " << i;
  }
  for (auto& f : futures) {
    ASSERT_TRUE(f.wait_for(patience));
    EXPECT_NO_THROW(f.get());
  }
}

TEST_F(CoreInproc, AMessageOverMessageSizeArrivesAsMarkedParts) {
  Options so = quiet();
  so.serialization.message_size = 100;
  auto srv = server(std::move(so));
  auto cli = connected_client(*srv);
  const auto payload = nqtest::pattern(1000, 3);
  cli->put(Stream::borrow(std::span(payload)), {}).get();

  std::vector<std::byte> joined;
  for (int i = 0; i < 10; ++i) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m) << "part " << i;
    ASSERT_TRUE(m->part) << "part " << i << " is not marked";
    EXPECT_EQ(m->part->offset, 100u * i);
    EXPECT_EQ(m->part->total, 1000u);
    EXPECT_EQ(m->part->last, i == 9);
    EXPECT_EQ(m->data.size(), 100u);
    EXPECT_FALSE(m->truncated);
    auto bytes = m->data.to_bytes();
    joined.insert(joined.end(), bytes.begin(), bytes.end());
  }
  EXPECT_EQ(joined, payload);
  EXPECT_FALSE(get_within(*srv, 20ms));
}

TEST_F(CoreInproc, AClientReconnectingWithItsIdIsTheSamePeer) {
  Events joined;
  Options so = quiet();
  so.on_peer_joined = joined.peer_hook();
  auto srv = server(std::move(so));
  const Id id = Id::random();
  Options co = quiet();
  co.id = id;
  auto first = connected_client(*srv, co);
  first->put(nqtest::text("a"), {});
  first->put(nqtest::text("b"), {});
  ASSERT_TRUE(first->close_for(patience));
  ASSERT_TRUE(eventually([&] { return srv->peers().empty(); }));
  EXPECT_EQ(srv->statistics().queued, 2u) << "messages of the first session must wait for get";

  auto second = connected_client(*srv, co);
  EXPECT_EQ(srv->peers(), std::vector<Id>{id});
  second->put(nqtest::text("c"), {});
  for (const char* want : {"a", "b", "c"}) {
    auto m = get_within(*srv);
    ASSERT_TRUE(m);
    EXPECT_EQ(text_of(*m), want);
    EXPECT_EQ(m->peer, id);
  }
  EXPECT_NO_THROW(srv->put(nqtest::text("back"), std::span(&id, 1)).get());
  auto m = get_within(*second);
  ASSERT_TRUE(m);
  EXPECT_EQ(text_of(*m), "back");
  EXPECT_TRUE(eventually([&] { return joined.ids().size() == 2; })) << "the second joined hook never ran";
  EXPECT_EQ(joined.ids(), (std::vector<Id>{id, id}));
}

TEST_F(CoreInproc, ASecondLiveClientWithTheSameIdIsRefused) {
  Events log;
  Options so = quiet();
  so.log = log.log_hook();
  auto srv = server(std::move(so));
  Options co = quiet();
  co.id = Id::random();
  auto first = connected_client(*srv, co);

  co.log = [](netqueue::LogLevel, std::string_view) {};  // its end is expected
  auto second = client(co);
  EXPECT_THROW(get_within(*second), ClosedError) << "the impostor's session must end";
  EXPECT_TRUE(second->peers().empty());
  EXPECT_THROW(second->put(nqtest::text("late"), {}).get(), ClosedError);
  EXPECT_TRUE(log.logged("already connected"));

  EXPECT_EQ(srv->peers(), std::vector<Id>{*co.id});
  first->put(nqtest::text("still here"), {});
  auto m = get_within(*srv);
  ASSERT_TRUE(m);
  EXPECT_EQ(text_of(*m), "still here");
  const Id to = first->id();
  srv->put(nqtest::text("and you"), std::span(&to, 1));
  auto n = get_within(*first);
  ASSERT_TRUE(n);
  EXPECT_EQ(text_of(*n), "and you");
}

}  // namespace
