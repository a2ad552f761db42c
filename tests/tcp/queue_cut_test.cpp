// A typed consumer is never handed a fragment: a message cut short by its
// peer's end (a raw socket that stops in the middle of it) makes
// Queue<T>::get() throw Error(errc::truncated) naming the peer, whether it
// came whole or in parts, and the next value from another peer still comes.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>
#include <string>

#include "tcp/tcp_support.hpp"

namespace {

using namespace nqtest;
using netqueue::Communicator;
using netqueue::Id;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;
using netqueue::Queue;

struct CutCase {
  std::string name;
  std::uint64_t announced;
  std::size_t sent;  // bytes of it sent before the disconnect
};

void PrintTo(const CutCase& c, std::ostream* os) { *os << c.name; }

class QueueCut : public testing::TestWithParam<CutCase> {};

TEST_P(QueueCut, ThrowsTruncatedAndNeverAFragment) {
  const CutCase& p = GetParam();
  Options so = server_options(plain_tcp());
  so.serialization.message_size = 64 * 1024;  // over it, messages come in parts
  so.log = quiet_log();
  Communicator server(Protocol::tcp, Purpose::server, so);
  Queue<std::string> in(server);

  const Id peer = Id::random();
  RawSocket raw = RawSocket::connect(server.local_port());
  Bytes out = hello_frame(peer);
  append(out, frame("before"));
  append(out, frame_header(p.announced));
  append(out, pattern(p.sent, 9));
  ASSERT_TRUE(raw.write_all(out));
  ASSERT_EQ(raw.read_exact(24, ms(10000)), hello_frame(server.id())) << "the server's hello";
  raw.shutdown_write();

  auto first = in.get_for(ms(10000));
  ASSERT_TRUE(first) << "the whole message before the cut never came";
  EXPECT_EQ(first->value, "before");
  try {
    auto item = in.get_for(ms(10000));
    ADD_FAILURE() << (item ? "a fragment was handed out as a value: " + std::to_string(item->value.size()) + " bytes"
                           : std::string("the cut was never reported"));
  } catch (const netqueue::Error& e) {
    EXPECT_EQ(e.value(), netqueue::errc::truncated) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find(peer.str()), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(p.sent) + " of " + std::to_string(p.announced)), std::string::npos) << what;
  }

  // Another peer's value comes next, whole.
  Options co = client_options(plain_tcp(), server.local_port());
  co.log = quiet_log();
  Communicator client(Protocol::tcp, Purpose::client, co);
  Queue<std::string> to_server(client);
  const std::string big(200 * 1000, 'x');
  auto f = to_server.put(big);
  auto next = in.get_for(ms(10000));
  ASSERT_TRUE(next) << "the next peer's value never came";
  EXPECT_EQ(next->peer, client.id());
  EXPECT_TRUE(next->value == big);
  ASSERT_TRUE(f.wait_for(ms(10000)));
  EXPECT_TRUE(client.close_for(std::chrono::seconds(10)));
  EXPECT_TRUE(server.close_for(std::chrono::seconds(10)));
}

INSTANTIATE_TEST_SUITE_P(Tcp, QueueCut,
                         testing::Values(CutCase{"whole_1000_of_10", 1000, 10},
                                         CutCase{"whole_60000_of_30000", 60000, 30000},
                                         CutCase{"parts_300000_of_150000", 300000, 150000}),
                         [](const testing::TestParamInfo<CutCase>& i) { return i.param.name; });

}  // namespace
