// gRPC faults: a server that is not up yet, a server killed mid-transfer, a
// client killed mid-transfer, a piece over the receive limit. Killed peers are
// this test program in another role (a child process, NQTEST_GRPC_ROLE set).
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

constexpr const char* role_variable = "NQTEST_GRPC_ROLE";
const TransportCase plain{"grpc", Protocol::grpc};

// ---- roles played by a child process ----

// A server that streams numbered messages to its first client until killed,
// and never takes what the client sends (the client's puts stay pending).
void streaming_server() {
  Options o = server_options(plain);
  Communicator s(Protocol::grpc, Purpose::server, o);
  std::printf("NQGRPC PORT %u\n", s.local_port());
  std::fflush(stdout);
  ASSERT_TRUE(eventually([&] { return !s.peers().empty(); }, 30s)) << "no client came";
  const Id client = s.peers().front();
  std::vector<SendFuture> futures;
  for (std::uint32_t i = 0;; ++i) {
    futures.push_back(s.put(Stream::adopt(pattern(64 * KiB, i)), client));
    if (futures.size() > 64) {  // a window: memory stays bounded while it runs
      settled(futures.front(), 60s);
      futures.erase(futures.begin());
    }
  }
}

// A client that sends numbered messages until killed.
void sending_client(std::uint16_t port) {
  Communicator c(Protocol::grpc, Purpose::client, client_options(plain, port));
  std::vector<SendFuture> futures;
  for (std::uint32_t i = 0;; ++i) {
    futures.push_back(c.put(Stream::adopt(pattern(64 * KiB, i))));
    if (i == 16) {
      settled(futures.front(), 20s).get();
      std::printf("NQGRPC SENDING\n");
      std::fflush(stdout);
    }
    if (futures.size() > 64) {
      settled(futures.front(), 60s);
      futures.erase(futures.begin());
    }
  }
}

// Runs the role of this process when it is a child; true then.
bool play_role() {
  const char* role = std::getenv(role_variable);
  if (!role) return false;
  const std::string r = role;
  if (r == "streaming_server") streaming_server();
  if (r.rfind("sending_client:", 0) == 0) sending_client(static_cast<std::uint16_t>(std::stoi(r.substr(15))));
  return true;
}

Child spawn(const std::string& test, const std::string& role) {
  return Child({"/proc/self/exe", "--gtest_filter=GrpcFaults." + test}, {std::string(role_variable) + "=" + role});
}

// True when `m` is message number `i` of the pattern streams above.
bool is_message(const Message& m, std::uint32_t i) {
  const auto want = pattern(64 * KiB, i);
  const auto got = m.data.to_bytes();
  return got.size() == want.size() && std::memcmp(got.data(), want.data(), want.size()) == 0;
}


// ---- tests ----

TEST(GrpcFaults, AClientMadeBeforeItsServerDeliversOnceTheServerComesUp) {
  Fixture fixture;
  const Endpoint where = fixture.reserve(plain);
  Communicator c(Protocol::grpc, Purpose::client, fixture.client_options(plain, where));
  std::vector<SendFuture> futures;
  for (int i = 0; i < 3; ++i) futures.push_back(c.put(text("early " + std::to_string(i))));
  std::this_thread::sleep_for(500ms);
  for (auto& f : futures) EXPECT_FALSE(f.ready()) << "a put resolved with no server listening";

  Communicator s(Protocol::grpc, Purpose::server, fixture.server_options_at(plain, where));
  for (int i = 0; i < 3; ++i) {
    auto m = s.get_for(20s);
    ASSERT_TRUE(m) << "message " << i << " never arrived once the server came up";
    EXPECT_EQ(m->data.to_string(), "early " + std::to_string(i));
  }
  for (auto& f : futures) EXPECT_NO_THROW(settled(f).get());
  settled(s.put(text("back"))).get();
  auto m = c.get_for(20s);
  ASSERT_TRUE(m) << "the server's answer never arrived";
  EXPECT_EQ(m->data.to_string(), "back");
  EXPECT_TRUE(c.close_for(10s));
  EXPECT_TRUE(s.close_for(10s));
}

TEST(GrpcFaults, AServerKilledMidTransferFailsPendingPutsAndCorruptsNothing) {
  if (play_role()) return;
  Child server = spawn("AServerKilledMidTransferFailsPendingPutsAndCorruptsNothing", "streaming_server");
  ASSERT_TRUE(server.wait_for_output("NQGRPC PORT", 20s)) << "the server process did not start:\n" << server.output();
  const std::string out = server.output();
  const auto port = static_cast<std::uint16_t>(std::stoi(out.substr(out.find("NQGRPC PORT") + 12)));

  Options o = client_options(plain, port);
  Communicator c(Protocol::grpc, Purpose::client, o);
  // Puts the server never takes: past its receive bound they wait.
  std::vector<std::vector<std::byte>> data;
  for (int i = 0; i < 64; ++i) data.push_back(pattern(256 * KiB, static_cast<std::uint32_t>(i)));
  std::vector<SendFuture> futures;
  for (auto& d : data) futures.push_back(c.put(Stream::borrow(d)));

  std::uint32_t received = 0;
  for (; received < 32; ++received) {
    auto m = c.get_for(20s);
    ASSERT_TRUE(m) << "message " << received << " from the server never came";
    ASSERT_TRUE(is_message(*m, received)) << "message " << received << " is corrupted or out of order";
  }
  ::kill(server.pid(), SIGKILL);
  server.wait(10s);

  // What had arrived is intact and in order (the last one, if the stream
  // ended inside it, marked truncated: what came of it); then get() reports
  // the closed server.
  bool closed = false, cut = false;
  for (;;) {
    try {
      auto m = c.get_for(20s);
      ASSERT_TRUE(m) << "get() neither returned nor failed within 20 s after the server died";
      ASSERT_FALSE(cut) << "a message came after a truncated one";
      if (m->truncated) {
        const auto want = pattern(64 * KiB, received);
        const auto got = m->data.to_bytes();
        ASSERT_LT(got.size(), want.size()) << "a truncated message as long as a whole one";
        ASSERT_TRUE(std::equal(got.begin(), got.end(), want.begin())) << "the truncated message " << received
                                                                      << " is not what was sent of it";
        cut = true;
        continue;
      }
      ASSERT_TRUE(is_message(*m, received)) << "message " << received << " is corrupted or out of order";
      ++received;
    } catch (const ClosedError&) {
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(closed);
  int failed = 0;
  for (auto& f : futures) {
    ASSERT_TRUE(f.wait_for(20s)) << "a put future was still pending 20 s after the server died";
    try {
      f.get();
    } catch (const ClosedError&) {
      ++failed;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "a put failed with something other than ClosedError: " << e.what();
    }
  }
  EXPECT_GT(failed, 0) << "every put resolved although the server took nothing and died";
  std::printf("client: %u intact messages received, %d of %zu puts failed with ClosedError\n", received, failed,
              futures.size());
  c.close_for(5s);
}

TEST(GrpcFaults, AClientKilledMidTransferLeavesTheOthersServed) {
  if (play_role()) return;
  Communicator s(Protocol::grpc, Purpose::server, server_options(plain));
  Child child = spawn("AClientKilledMidTransferLeavesTheOthersServed", "sending_client:" + std::to_string(s.local_port()));
  ASSERT_TRUE(child.wait_for_output("NQGRPC SENDING", 20s)) << "the client process did not send:\n" << child.output();

  Communicator other(Protocol::grpc, Purpose::client, client_options(plain, s.local_port()));
  settled(other.put(text("before"))).get();
  ASSERT_TRUE(eventually([&] { return s.peers().size() == 2; }, 20s)) << "both clients should be connected";
  // Mid-transfer: more than 16 of its messages in (and the other's one).
  ASSERT_TRUE(eventually([&] { return s.statistics().messages_in > 17; }, 20s))
      << "the client process sent too little:\n" << child.output();

  ::kill(child.pid(), SIGKILL);
  child.wait(10s);
  // The server notices (the call is cancelled), and the dead session ends.
  EXPECT_TRUE(eventually([&] { return s.peers().size() == 1; }, 20s)) << "the killed client's session did not end";

  // Everything from the killed client is intact and in order (a last partial
  // message, if any, is marked truncated); the other client is served.
  std::uint32_t from_child = 0;
  int from_other = 0;
  while (auto m = s.get_for(1s)) {
    if (m->peer == other.id()) {
      ++from_other;
      continue;
    }
    if (m->truncated) continue;
    ASSERT_TRUE(is_message(*m, from_child)) << "message " << from_child << " of the killed client is corrupted";
    ++from_child;
  }
  EXPECT_EQ(from_other, 1);
  EXPECT_GT(from_child, 16u);
  settled(other.put(text("after"))).get();
  auto m = s.get_for(20s);
  ASSERT_TRUE(m) << "the surviving client's message never arrived";
  EXPECT_EQ(m->data.to_string(), "after");
  settled(s.put(text("to you"), other.id())).get();
  auto back = other.get_for(20s);
  ASSERT_TRUE(back) << "the server's answer to the surviving client never arrived";
  EXPECT_EQ(back->data.to_string(), "to you");
  EXPECT_TRUE(other.close_for(10s));
  EXPECT_TRUE(s.close_for(10s));
}

// netqueue sends gRPC messages of at most 1 MiB whatever its max_size, so
// the oversized sender is a hand-made client (Debian's python3-grpcio): its
// hello, then one 20 MiB message.
const char* oversized_client = R"PY(
import struct, sys, time, uuid
import grpc
port = int(sys.argv[1])
frame = lambda b: struct.pack(">Q", len(b)) + b
channel = grpc.insecure_channel("127.0.0.1:%d" % port, options=[("grpc.max_send_message_length", 64 << 20)])
comm = channel.stream_stream("/grpc/comm", request_serializer=None, response_deserializer=None)
def pieces():
    yield frame(uuid.uuid4().bytes)
    time.sleep(0.5)
    yield frame(b"x" * (20 << 20))
try:
    for _ in comm(pieces(), timeout=20):
        pass
    print("NO ERROR", flush=True)
except grpc.RpcError as e:
    print("ERROR", e.code(), e.details(), flush=True)
)PY";

TEST(GrpcFaults, APieceOverTheReceiveLimitEndsThatSessionOnlyWithAClearError) {
  std::atomic<int> joined{0}, left{0};
  Options so = server_options(plain);  // receives pieces up to 16 MiB
  so.on_peer_joined = [&](const Id&) { ++joined; };
  so.on_peer_left = [&](const Id&) { ++left; };
  Communicator s(Protocol::grpc, Purpose::server, so);
  Communicator good(Protocol::grpc, Purpose::client, client_options(plain, s.local_port()));
  settled(good.put(text("hello"))).get();
  auto m = s.get_for(20s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->data.to_string(), "hello");

  Child bad({"/usr/bin/python3", "-c", oversized_client, std::to_string(s.local_port())});
  const auto status = bad.wait(30s);
  ASSERT_TRUE(status) << "the oversized sender did not finish:\n" << bad.output();
  EXPECT_NE(bad.output().find("ERROR StatusCode.RESOURCE_EXHAUSTED"), std::string::npos)
      << "the sender was not told clearly:\n" << bad.output();
  EXPECT_NE(bad.output().find("larger than max"), std::string::npos) << bad.output();
  EXPECT_EQ(joined.load(), 2) << "the oversized sender's hello did not make a session";
  EXPECT_TRUE(eventually([&] { return left.load() == 1; }, 20s)) << "its session did not end";
  EXPECT_EQ(s.peers(), std::vector<Id>{good.id()});

  // The other session goes on; nothing of the oversized message was delivered.
  EXPECT_FALSE(s.try_get()) << "something of the oversized message was delivered";
  settled(good.put(text("still here"))).get();
  m = s.get_for(20s);
  ASSERT_TRUE(m) << "the other client's message never arrived";
  EXPECT_EQ(m->data.to_string(), "still here");
  settled(s.put(text("answer"), good.id())).get();
  auto back = good.get_for(20s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->data.to_string(), "answer");
  EXPECT_TRUE(good.close_for(10s));
  EXPECT_TRUE(s.close_for(10s));
}

}  // namespace

namespace {

// A client that does not trust the server's certificate fails its puts with
// connect_failed, and the error says why in gRPC's (and OpenSSL's) words, so
// that a user can fix the setup; a server that is not there says so too.
std::string connect_failure(const Options& o) {
  Communicator client(Protocol::grpc, Purpose::client, o);
  auto f = client.put(text("never"));
  if (!f.wait_for(20s)) return "the put never ended";
  try {
    f.get();
    return "the put succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::connect_failed) << e.what();
    return e.what();
  }
}

TEST(GrpcFaults, AConnectFailureSaysWhyInGrpcsWords) {
  const TransportCase tls{"grpc_tls", Protocol::grpc, true};
  Communicator server(Protocol::grpc, Purpose::server, server_options(tls));
  Options untrusted = client_options(tls, server.local_port());
  untrusted.security.certificate = certs_dir() + "/other-ca.pem";
  untrusted.connection.connect_timeout = 1s;
  untrusted.log = [](LogLevel, std::string_view) {};
  const std::string why = connect_failure(untrusted);
  EXPECT_NE(why.find("(TLS)"), std::string::npos) << why;
  EXPECT_NE(why.find("certificate verify failed"), std::string::npos) << "OpenSSL's reason is missing: " << why;

  Options nobody = client_options(plain, server.local_port());
  server.close();
  nobody.connection.connect_timeout = 1s;
  nobody.log = [](LogLevel, std::string_view) {};
  const std::string refused = connect_failure(nobody);
  EXPECT_NE(refused.find("Connection refused"), std::string::npos) << refused;
}

}  // namespace
