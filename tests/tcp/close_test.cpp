// Closing a TCP server while connections that never said hello are open, or
// while a peer drops its connection without a goodbye.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <netqueue/netqueue.hpp>

#include "support/helpers.hpp"
#include "tcp/raw_socket.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

TEST(TcpClose, AServerClosesAtOnceOverConnectionsThatNeverSaidHello) {
  const TransportCase plain{"tcp", Protocol::tcp, false};
  Communicator server(Protocol::tcp, Purpose::server, server_options(plain));
  Communicator client(Protocol::tcp, Purpose::client, client_options(plain, server.local_port()));
  client.put(text("here")).get();
  ASSERT_TRUE(server.get_for(20s));
  RawSocket silent = RawSocket::connect(server.local_port());  // connects, sends nothing
  ASSERT_TRUE(silent.is_open());
  // Let the server accept it (nothing observable marks that: it is no peer yet).
  std::this_thread::sleep_for(300ms);

  std::thread closer([&] { client.close(); });
  const auto start = std::chrono::steady_clock::now();
  // No deadline: the identified client says goodbye; the silent connection is
  // not a peer to wait for.
  EXPECT_TRUE(server.close_for(30s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  closer.join();
  EXPECT_TRUE(silent.wait_closed(std::chrono::milliseconds(5000))) << "the silent connection was left open";
}

TEST(TcpClose, ACloseIsNotGracefulWhenAPeerDropsWithoutAGoodbye) {
  std::string warnings;
  std::mutex mutex;
  Options o = server_options(TransportCase{"tcp", Protocol::tcp, false});
  o.log = [&](LogLevel level, std::string_view text) {
    std::lock_guard lock(mutex);
    if (level == LogLevel::warning) warnings += std::string(text) + "\n";
  };
  Communicator server(Protocol::tcp, Purpose::server, o);
  RawSocket peer = RawSocket::connect(server.local_port());
  const Id id = Id::random();
  Bytes hello_and_data = hello_frame(id);
  append(hello_and_data, frame("here"));
  ASSERT_TRUE(peer.write_all(hello_and_data));
  ASSERT_TRUE(server.get_for(20s)) << "the raw peer's message never arrived";

  std::thread dropper([&] {
    std::this_thread::sleep_for(200ms);
    peer.close();  // FIN, no goodbye
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(server.close_for(20s)) << "a peer that left without a goodbye ended gracefully";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "the server waited for a peer that was gone";
  dropper.join();
  std::lock_guard lock(mutex);
  EXPECT_NE(warnings.find(id.str()), std::string::npos) << "the departure was not reported as a warning: " << warnings;
}

TEST(TcpClose, APeerThatFloodsWhileTheServerClosesIsReadOnlyToABound) {
  Options o = server_options(TransportCase{"tcp", Protocol::tcp, false});
  o.connection.receive_bound = 64 * KiB;
  Communicator server(Protocol::tcp, Purpose::server, o);
  RawSocket peer = RawSocket::connect(server.local_port());
  ASSERT_TRUE(peer.write_all(hello_frame(Id::random())));
  const Bytes chunk = frame(Bytes(64 * KiB, std::byte{0x5a}));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{0};
  // Nobody calls get(); the peer writes as fast as the server reads, through the close.
  std::thread flooder([&] {
    while (!stop && peer.write_all(chunk, std::chrono::seconds(10))) written += chunk.size();
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(server.close_for(1s)) << "a peer that never said goodbye ended gracefully";
  stop = true;
  flooder.join();
  // Without a bound during close the server read whatever came (hundreds of
  // MiB a second on loopback); with it, the receive bound, the allowance for
  // what was in flight (4 x max(bound, 4 MiB)) and the last read (at most a
  // 256 KiB receive arena, or what is left of a frame).
  const auto in = server.statistics().stream_bytes_in;
  EXPECT_LT(in, 64 * KiB + 16 * MiB + 512 * KiB)
      << "the server read " << in << " bytes of a flood while closing (the peer wrote " << written << ")";
}

}  // namespace
