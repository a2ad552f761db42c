// A netqueue server and a polling client (grpc.poll, as net-queue's Python
// client polls): after the client half-closes a call, the server sends at
// most 16 MiB more on it and ends it, so that a client that is put to
// without pause still gets its calls back to send its own data.
#include <gtest/gtest.h>

#include <atomic>
#include <netqueue/netqueue.hpp>
#include <thread>
#include <vector>

#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

TEST(GrpcPoll, AClientPutToWithoutPauseStillSendsBetweenCalls) {
  const TransportCase c{"grpc", Protocol::grpc};
  Communicator server(Protocol::grpc, Purpose::server, server_options(c));
  Options co = client_options(c, server.local_port());
  co.grpc.poll = true;
  Communicator client(Protocol::grpc, Purpose::client, co);
  settled(client.put(text("hello"))).get();
  auto first = server.get_for(20s);
  ASSERT_TRUE(first) << "the client's first message never came";

  constexpr int count = 64;  // 64 MiB queued for the client at once
  std::vector<std::byte> mib(MiB, std::byte{7});
  std::vector<SendFuture> puts;
  for (int i = 0; i < count; ++i) puts.push_back(server.put(Stream::borrow(mib), client.id()));

  std::atomic<int> received{0};
  std::jthread getter([&] {
    for (int i = 0; i < count; ++i) {
      auto m = client.get_for(20s);
      if (!m) return;
      if (received.fetch_add(1) == 0) client.put(text("ping"));  // queued during the server's long call
    }
  });
  auto ping = server.get_for(30s);
  const int when = received.load();
  ASSERT_TRUE(ping) << "the client's ping never reached the server";
  EXPECT_EQ(ping->data.to_string(), "ping");
  EXPECT_LT(when, count) << "the ping waited until all 64 MiB went out on one call";
  getter.join();
  EXPECT_EQ(received.load(), count) << "the client did not get all 64 MiB";
  for (auto& f : puts) EXPECT_NO_THROW(settled(f).get());
  EXPECT_TRUE(client.close_for(10s));
  EXPECT_TRUE(server.close_for(10s));
}

}  // namespace
