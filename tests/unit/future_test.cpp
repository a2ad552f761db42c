// Unit tests of SendFuture (include/netqueue/future.hpp) over SendState
// (src/core/send_state.hpp): the byte accounting behind put futures.
#include "netqueue/future.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/send_state.hpp"
#include "netqueue/error.hpp"

namespace {

using netqueue::ClosedError;
using netqueue::Id;
using netqueue::SendFuture;
using netqueue::detail::SendState;
using namespace std::chrono_literals;

static_assert(std::is_nothrow_default_constructible_v<SendFuture>);
static_assert(std::is_copy_constructible_v<SendFuture>, "a future may be waited on from several places");
static_assert(std::is_nothrow_move_constructible_v<SendFuture>);

std::exception_ptr closed(const Id& peer, const std::string& why = "peer closed") {
  return std::make_exception_ptr(ClosedError(peer, why));
}

std::shared_ptr<SendState> state_for(const Id& peer) {
  auto s = std::make_shared<SendState>();
  s->set_peer(peer);
  return s;
}

TEST(SendFuture, ResolvesExactlyWhenTheSentBytesReachItsEnd) {
  auto state = state_for(Id::random());
  SendFuture f(SendFuture::Target{state, 100});
  EXPECT_TRUE(f.valid());
  EXPECT_FALSE(f.ready());
  state->advance(60);
  EXPECT_FALSE(f.ready());
  state->advance(39);
  EXPECT_FALSE(f.ready());
  EXPECT_FALSE(f.wait_for(0ms));
  state->advance(1);
  EXPECT_EQ(state->sent(), 100u);
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(f.wait_for(0ms));
  EXPECT_NO_THROW(f.get());
  EXPECT_NO_THROW(f.get());  // any number of times
}

TEST(SendFuture, OneStateResolvesEveryPutWhoseBytesWentOut) {
  auto state = state_for(Id::random());
  SendFuture first(SendFuture::Target{state, 10}), second(SendFuture::Target{state, 20}),
      third(SendFuture::Target{state, 30});
  state->advance(25);
  EXPECT_TRUE(first.ready());
  EXPECT_TRUE(second.ready());
  EXPECT_FALSE(third.ready());
}

TEST(SendFuture, FailsWithTheStoredClosedErrorAfterFail) {
  const Id peer = Id::random();
  auto state = state_for(peer);
  SendFuture f(SendFuture::Target{state, 10});
  state->fail(closed(peer, "connection reset"));
  EXPECT_TRUE(f.ready());
  try {
    f.get();
    FAIL() << "a failed put resolved";
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.peer(), peer);
    EXPECT_EQ(e.code(), netqueue::errc::closed);
    EXPECT_NE(std::string(e.what()).find("connection reset"), std::string::npos);
  }
}

TEST(SendFuture, TheFirstFailureWins) {
  const Id peer = Id::random();
  auto state = state_for(peer);
  SendFuture f(SendFuture::Target{state, 10});
  state->fail(closed(peer, "first"));
  state->fail(std::make_exception_ptr(netqueue::Error(netqueue::errc::transport, "second")));
  try {
    f.get();
    FAIL();
  } catch (const ClosedError& e) {
    EXPECT_NE(std::string(e.what()).find("first"), std::string::npos);
  }
}

TEST(SendFuture, BytesSentBeforeAFailureStayResolved) {
  const Id peer = Id::random();
  auto state = state_for(peer);
  SendFuture done(SendFuture::Target{state, 10}), exact(SendFuture::Target{state, 40}),
      cut(SendFuture::Target{state, 41});
  state->advance(40);
  state->fail(closed(peer));
  EXPECT_NO_THROW(done.get());
  EXPECT_NO_THROW(exact.get());
  EXPECT_THROW(cut.get(), ClosedError);
  EXPECT_EQ(exact.results().front().error, nullptr);
  EXPECT_NE(cut.results().front().error, nullptr);
}

TEST(SendFuture, NonClosedErrorsArePassedThrough) {
  auto state = state_for(Id::random());
  SendFuture f(SendFuture::Target{state, 1});
  state->fail(std::make_exception_ptr(netqueue::Error(netqueue::errc::transport, "tls alert")));
  try {
    f.get();
    FAIL();
  } catch (const ClosedError&) {
    FAIL() << "a transport error became a ClosedError";
  } catch (const netqueue::Error& e) {
    EXPECT_EQ(e.code(), netqueue::errc::transport);
  }
}

TEST(SendFuture, ResultsGivesEachPeersOutcome) {
  const Id a = Id::random(), b = Id::random(), c = Id::random();
  auto sa = state_for(a), sb = state_for(b), sc = state_for(c);
  SendFuture f({{sa, 5}, {sb, 5}, {sc, 5}});
  sa->advance(5);
  sb->fail(closed(b));
  sc->advance(7);
  const auto results = f.results();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].peer, a);
  EXPECT_EQ(results[0].error, nullptr);
  EXPECT_EQ(results[1].peer, b);
  EXPECT_NE(results[1].error, nullptr);
  EXPECT_THROW(std::rethrow_exception(results[1].error), ClosedError);
  EXPECT_EQ(results[2].peer, c);
  EXPECT_EQ(results[2].error, nullptr);
  EXPECT_THROW(f.get(), ClosedError);  // one peer failed: the put failed
}

TEST(SendFuture, GetWithTwoFailedPeersThrowsAClosedErrorNamingBoth) {
  const Id a = Id::random(), b = Id::random(), ok = Id::random();
  auto sa = state_for(a), sb = state_for(b), sok = state_for(ok);
  SendFuture f({{sa, 1}, {sok, 1}, {sb, 1}});
  sok->advance(1);
  sa->fail(closed(a, "a left"));
  sb->fail(closed(b, "b left"));
  try {
    f.get();
    FAIL() << "two failed peers and no error";
  } catch (const ClosedError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.peer(), a);  // the first
    EXPECT_NE(what.find(a.str()), std::string::npos) << what;
    EXPECT_NE(what.find(b.str()), std::string::npos) << what;
    EXPECT_EQ(what.find(ok.str()), std::string::npos) << what;
  }
}

TEST(SendFuture, WaitsForEveryPeer) {
  auto sa = state_for(Id::random()), sb = state_for(Id::random());
  SendFuture f({{sa, 3}, {sb, 4}});
  sa->advance(3);
  EXPECT_FALSE(f.ready());
  sb->advance(4);
  EXPECT_TRUE(f.ready());
}

TEST(SendFuture, WaitForTimesOutOnAPendingFuture) {
  auto state = state_for(Id::random());
  SendFuture f(SendFuture::Target{state, 1});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(f.wait_for(30ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_FALSE(f.ready());
}

TEST(SendFuture, WaitWakesWhenAnotherThreadSendsTheBytes) {
  auto state = state_for(Id::random());
  SendFuture f(SendFuture::Target{state, 1000});
  std::thread io([&] {
    for (int i = 0; i < 10; ++i) {
      std::this_thread::sleep_for(1ms);
      state->advance(100);
    }
  });
  EXPECT_TRUE(f.wait_for(10s));
  io.join();
  EXPECT_NO_THROW(f.get());
}

TEST(SendFuture, WaitForTheLargestNanosecondsWaitsUntilDone) {
  auto state = state_for(Id::random());
  SendFuture f(SendFuture::Target{state, 1});
  std::thread io([&] {
    std::this_thread::sleep_for(20ms);
    state->advance(1);
  });
  EXPECT_TRUE(f.wait_for(std::chrono::nanoseconds::max()));
  io.join();
}

TEST(SendFuture, WaitForAHugeDurationInCoarseUnitsWaitsInsteadOfTimingOutAtOnce) {
  // seconds::max() or hours::max() mean "no limit" to a caller; converted to
  // nanoseconds they overflow, and the wait must not turn into "already late".
  for (int round = 0; round < 2; ++round) {
    auto state = state_for(Id::random());
    SendFuture f(SendFuture::Target{state, 1});
    std::thread io([&] {
      std::this_thread::sleep_for(20ms);
      state->advance(1);
    });
    const bool done = round == 0 ? f.wait_for(std::chrono::seconds::max()) : f.wait_for(std::chrono::hours::max());
    EXPECT_TRUE(done) << (round == 0 ? "seconds::max()" : "hours::max()") << " returned before the put resolved";
    io.join();
  }
}

TEST(SendFuture, WaitWakesWhenAnotherThreadFailsTheState) {
  const Id peer = Id::random();
  auto state = state_for(peer);
  SendFuture f(SendFuture::Target{state, 1000});
  std::thread io([&] {
    std::this_thread::sleep_for(5ms);
    state->fail(closed(peer));
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(f.get(), ClosedError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  io.join();
}

TEST(SendFuture, AnInvalidFutureThrowsFutureError) {
  SendFuture f;
  EXPECT_FALSE(f.valid());
  EXPECT_THROW((void)f.ready(), std::future_error);
  EXPECT_THROW(f.wait(), std::future_error);
  EXPECT_THROW((void)f.wait_for(1ms), std::future_error);
  EXPECT_THROW(f.get(), std::future_error);
  EXPECT_THROW((void)f.results(), std::future_error);
  try {
    f.get();
  } catch (const std::future_error& e) {
    EXPECT_EQ(e.code(), std::future_errc::no_state);
  }
}

TEST(SendFuture, ReadyValueIsResolvedAtOnce) {
  SendFuture f = SendFuture::ready_value();
  EXPECT_TRUE(f.valid());
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(f.wait_for(0ms));
  EXPECT_NO_THROW(f.get());
  EXPECT_TRUE(f.results().empty());
}

TEST(SendFuture, FailedIsFailedAtOnce) {
  const Id peer = Id::random();
  SendFuture f = SendFuture::failed(closed(peer));
  EXPECT_TRUE(f.valid());
  EXPECT_TRUE(f.ready());
  EXPECT_THROW(f.get(), ClosedError);
  const auto results = f.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].peer, peer);
  EXPECT_NE(results[0].error, nullptr);
}

TEST(SendFuture, AStateMadeFailedFailsEveryByte) {
  const Id peer = Id::random();
  auto state = std::make_shared<SendState>(closed(peer));
  SendFuture f(SendFuture::Target{state, 1});
  EXPECT_TRUE(f.ready());
  EXPECT_THROW(f.get(), ClosedError);
}

TEST(SendFuture, CopiesShareTheOutcome) {
  auto state = state_for(Id::random());
  SendFuture f(SendFuture::Target{state, 8});
  SendFuture g = f;
  state->advance(8);
  EXPECT_TRUE(f.ready());
  EXPECT_TRUE(g.ready());
}

TEST(SendState, RemembersItsPeer) {
  const Id peer = Id::random();
  SendState state;
  EXPECT_TRUE(state.peer().is_nil());
  state.set_peer(peer);
  EXPECT_EQ(state.peer(), peer);
}

TEST(SendState, SettledReportsTheErrorOnlyForBytesNotSent) {
  const Id peer = Id::random();
  SendState state;
  state.advance(5);
  std::exception_ptr error;
  EXPECT_TRUE(state.settled(5, &error));
  EXPECT_EQ(error, nullptr);
  EXPECT_FALSE(state.settled(6, &error));
  state.fail(closed(peer));
  EXPECT_TRUE(state.settled(6, &error));
  EXPECT_NE(error, nullptr);
  std::exception_ptr none;
  EXPECT_TRUE(state.settled(5, &none));
  EXPECT_EQ(none, nullptr);
}

TEST(SendState, WaitUntilReturnsFalseAtTheDeadline) {
  SendState state;
  EXPECT_FALSE(state.wait_until(1, std::chrono::steady_clock::now() + 5ms));
  state.advance(1);
  EXPECT_TRUE(state.wait_until(1, std::chrono::steady_clock::now()));
}

}  // namespace
