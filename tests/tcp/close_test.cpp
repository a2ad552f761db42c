// Closing a TCP server while connections that never said hello are open.
#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace
