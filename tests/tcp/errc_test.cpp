// Errors a program can act on carry their errc (SPEC, "Bad input"): a peer
// that breaks the wire format ends its session with errc::protocol_error, a
// close whose deadline cuts a peer short fails its puts with errc::timeout,
// and both name the peer. (A dropped connection, errc::closed with the
// socket's cause, is in bad_input_test.cpp; a lost MQTT broker,
// errc::transport, in mqtt_test.cpp.)
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>
#include <string>
#include <vector>

#include "tcp/tcp_support.hpp"

namespace {

using namespace nqtest;
using netqueue::ClosedError;
using netqueue::Communicator;
using netqueue::errc;
using netqueue::Id;
using netqueue::MiB;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;

// A server played by a raw socket answers the client's hello with 17 bytes.
TEST(TcpErrc, AServerThatBreaksTheWireFormatFailsTheClientWithProtocolError) {
  RawListener fake;
  Options o = client_options(plain_tcp(), fake.port());
  o.log = quiet_log();
  Communicator client(Protocol::tcp, Purpose::client, o);
  RawSocket s = fake.accept(ms(10000));
  ASSERT_TRUE(s.is_open()) << "the client never connected";
  ASSERT_EQ(s.read_exact(24, ms(10000)).size(), 24u) << "the client's hello";
  ASSERT_TRUE(s.write_all(frame(std::string(17, 'x'))));

  try {
    auto m = client.get_for(ms(10000));
    ADD_FAILURE() << (m ? "a message came from a server that said no hello" : "get() never failed");
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.value(), errc::protocol_error) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a 16-byte hello"), std::string::npos) << e.what();
  }
  auto late = client.put(text("late"));
  ASSERT_TRUE(late.wait_for(ms(10000))) << "a put after the session ended never ended";
  try {
    late.get();
    ADD_FAILURE() << "a put to a server that broke the wire format succeeded";
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.value(), errc::protocol_error) << e.what();
  }
  client.close_for(std::chrono::seconds(5));
}

// A peer that said hello and then reads nothing: a close_for that runs out
// fails what was queued for it with errc::timeout, naming it.
TEST(TcpErrc, ACloseDeadlineThatCutsAPeerFailsItsPutsWithTimeout) {
  Options so = server_options(plain_tcp());
  so.log = quiet_log();
  Communicator server(Protocol::tcp, Purpose::server, so);
  const Id peer = Id::random();
  RawSocket raw = RawSocket::connect(server.local_port());
  ASSERT_TRUE(raw.write_all(hello_frame(peer)));
  ASSERT_EQ(raw.read_exact(24, ms(10000)), hello_frame(server.id()));
  ASSERT_TRUE(eventually([&] { return server.peers().size() == 1; }, ms(10000)));

  // Far more than the socket buffers hold while the peer reads nothing.
  auto stuck = server.put(netqueue::Stream::adopt(std::vector<std::byte>(64 * MiB)), peer);
  EXPECT_FALSE(server.close_for(ms(300))) << "a close that cut a peer short said it was graceful";
  ASSERT_TRUE(stuck.wait_for(ms(10000)));
  try {
    stuck.get();
    ADD_FAILURE() << "64 MiB were handed over to a peer that reads nothing";
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.value(), errc::timeout) << e.what();
    EXPECT_EQ(e.peer(), peer) << e.what();
    EXPECT_NE(std::string(e.what()).find("close deadline"), std::string::npos) << e.what();
  }
}

}  // namespace
