// Queue<T> never hands out a fragment as a value: messages that arrive in
// parts (larger than the receiver's serialization.message_size) are put back
// together and loaded whole, up to the Queue's max_value_size; larger ones
// are reported and skipped. The peers talk over inproc.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <netqueue/netqueue.hpp>
#include <string>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

namespace {

using namespace std::chrono_literals;
using netqueue::Communicator;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;
using netqueue::Queue;

constexpr auto patience = 20s;

// Distinct, checkable contents: value i of `size` characters.
std::string value(std::size_t i, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t k = 0; k < size; ++k) s[k] = static_cast<char>('a' + (i * 7 + k * 13 + k / 251) % 26);
  return s;
}

class QueueParts : public testing::Test {
 protected:
  // A server that receives messages over 64 KiB in parts, and a client.
  void SetUp() override {
    const nqtest::TransportCase inproc{"inproc", Protocol::inproc};
    Options so = inproc.fixture->server_options(inproc);
    so.serialization.message_size = 64 * 1024;
    so.log = nqtest::quiet_log();
    server.emplace(Protocol::inproc, Purpose::server, so);
    Options co = inproc.fixture->client_options(inproc, inproc.fixture->endpoint_of(inproc, *server));
    co.log = nqtest::quiet_log();
    client.emplace(Protocol::inproc, Purpose::client, co);
  }
  void TearDown() override {
    if (client) {
      EXPECT_TRUE(client->close_for(10s));
    }
    if (server) {
      EXPECT_TRUE(server->close_for(10s));
    }
  }

  // Puts `values` from the client and waits until each is handed over.
  void send(const std::vector<std::string>& values) {
    Queue<std::string> out(*client);
    std::vector<netqueue::SendFuture> futures;
    for (const auto& v : values) futures.push_back(out.put(v));
    for (auto& f : futures) {
      ASSERT_TRUE(f.wait_for(patience)) << "a put never resolved";
      ASSERT_NO_THROW(f.get());
    }
  }

  std::optional<Communicator> server, client;
};

TEST_F(QueueParts, AValueLargerThanMessageSizeComesWhole) {
  const std::vector<std::string> values{value(0, 10), value(1, 300 * 1000), value(2, 64 * 1024),
                                        value(3, 64 * 1024 + 1), value(4, 5)};
  ASSERT_NO_FATAL_FAILURE(send(values));
  Queue<std::string> in(*server);
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto item = in.get_for(patience);
    ASSERT_TRUE(item) << "value " << i << " never came";
    EXPECT_EQ(item->peer, client->id());
    EXPECT_EQ(item->value.size(), values[i].size()) << "value " << i << " came in pieces";
    EXPECT_TRUE(item->value == values[i]) << "value " << i << " is not what was sent";
  }
  EXPECT_FALSE(in.try_get()) << "more values came than were sent";
  // Underneath, the 300 KB value did come in parts.
  EXPECT_GT(server->statistics().messages_in, values.size());
}

TEST_F(QueueParts, OneValueOverMaxValueSizeIsReportedAndTheNextComes) {
  ASSERT_NO_FATAL_FAILURE(send({value(0, 300 * 1000), value(1, 100), value(2, 200 * 1000)}));
  Queue<std::string> in(*server, 250 * 1000);
  EXPECT_EQ(in.max_value_size(), 250u * 1000u);
  try {
    in.get_for(patience);
    ADD_FAILURE() << "a value over max_value_size was handed out";
  } catch (const netqueue::Error& e) {
    EXPECT_EQ(e.value(), netqueue::errc::serialization) << e.what();
    EXPECT_NE(std::string(e.what()).find("max_value_size"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(client->id().str()), std::string::npos) << e.what();
  }
  for (std::size_t i : {1u, 2u}) {
    auto item = in.get_for(patience);
    ASSERT_TRUE(item) << "the value after the one skipped never came";
    EXPECT_TRUE(item->value == value(i, i == 1 ? 100 : 200 * 1000)) << "value " << i;
  }
  EXPECT_FALSE(in.try_get());
}

TEST_F(QueueParts, ThreadsGettingAtOnceEachGetWholeValues) {
  constexpr std::size_t count = 40;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < count; ++i) values.push_back(value(i, 20 * 1000 + i * 7000));
  Queue<std::string> in(*server);
  std::mutex mutex;
  std::vector<std::string> got;
  std::vector<std::thread> getters;
  for (int t = 0; t < 3; ++t) {
    getters.emplace_back([&] {
      while (true) {
        auto item = in.get_for(2s);
        if (!item) return;
        std::lock_guard lock(mutex);
        got.push_back(std::move(item->value));
      }
    });
  }
  ASSERT_NO_FATAL_FAILURE(send(values));
  for (auto& t : getters) t.join();
  ASSERT_EQ(got.size(), count) << "values were lost, or handed out in pieces";
  std::sort(got.begin(), got.end());
  std::sort(values.begin(), values.end());
  EXPECT_TRUE(got == values) << "a value came out of pieces put together wrongly";
}

}  // namespace

TEST_F(QueueParts, GetForTakesTheLongestTimeoutLikeTheCommunicator) {
  // nanoseconds::max() added to now() would overflow into the past: saturated,
  // it waits without limit, and a value that is there comes at once.
  ASSERT_NO_FATAL_FAILURE(send({value(0, 300 * 1000)}));
  Queue<std::string> in(*server);
  auto item = in.get_for(std::chrono::nanoseconds::max());
  ASSERT_TRUE(item) << "get_for(nanoseconds::max()) returned nothing though a value was there";
  EXPECT_EQ(item->value, value(0, 300 * 1000));
}
