// The seam, driven by hand: a scripted transport attaches links and hands the
// real MQTT and gRPC captures of Python net-queue (shared/wire) to the core
// through the piece path, cut exactly as captured, and takes what the core
// sends. Every piece is passed as borrowed memory that is scribbled over and
// freed right after the call, so a core that kept a view of it would hand
// get() garbage (and ASan would report the read).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/core.hpp"
#include "support/helpers.hpp"
#include "support/scripted_link.hpp"

namespace {

using namespace std::chrono_literals;
using netqueue::Chunk;
using netqueue::Id;
using netqueue::Message;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;
using netqueue::Stream;
using netqueue::detail::Core;
using netqueue::detail::Hub;
using netqueue::detail::LinkEnd;
using nqtest::ScriptedLink;
using netqueue::detail::Pipe;
using Bytes = std::vector<std::byte>;
using Clock = std::chrono::steady_clock;

const Id server_id = Id::parse("00112233-4455-6677-8899-aabbccddeeff");
const Id client_id = Id::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");

Bytes wire(const std::string& name) { return nqtest::read_file(nqtest::wire_dir() + "/" + name); }

// The capture's files name-00.bin, name-01.bin, ... in order.
std::vector<Bytes> pieces(const std::string& prefix, int count) {
  std::vector<Bytes> out;
  for (int i = 0; i < count; ++i) out.push_back(wire(prefix + (i < 10 ? "-0" : "-") + std::to_string(i) + ".bin"));
  return out;
}

Bytes bytes_of(std::string_view s) {
  Bytes out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

// The four messages the capture's client put, in order.
std::vector<Bytes> client_messages() {
  Bytes big(100000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i % 256);
  return {bytes_of("hello"), Bytes{}, bytes_of("0123456789abcdef"), big};
}

// Moves nothing by itself: the test calls the Pipe on its own thread (the
// links' strand).
class ScriptedTransport final : public netqueue::detail::Transport {
 public:
  void start() override {}
  std::uint16_t port() const override { return 0; }
  void stop_accepting() override {}
  void stop() override {}
};

class PieceReplay : public testing::Test {
 protected:
  // A communicator over the scripted transport (the protocol is a label only).
  std::unique_ptr<Core> make(Purpose purpose, Options o) {
    if (!o.log) o.log = nqtest::quiet_log();
    return std::make_unique<Core>(Protocol::mqtt, purpose, std::move(o), [this](Hub& hub) {
      hub_ = &hub;
      return std::make_unique<ScriptedTransport>();
    });
  }
  std::unique_ptr<Core> make(Purpose purpose, const Id& id) {
    Options o;
    o.id = id;
    return make(purpose, std::move(o));
  }

  // A new link carrying the session named `key`.
  std::shared_ptr<Pipe> attach(const std::shared_ptr<ScriptedLink>& link, const std::string& key) {
    auto pipe = hub_->attach(link, key);
    EXPECT_TRUE(pipe) << "the core refused a link";
    return pipe;
  }

  // Hands `piece` up in memory that is scribbled over and freed right after.
  static void hand_up(Pipe& pipe, const Bytes& piece) {
    auto memory = std::make_unique<std::byte[]>(piece.size() + 1);
    if (!piece.empty()) std::memcpy(memory.get(), piece.data(), piece.size());
    pipe.received_piece(Chunk::borrow(std::span<const std::byte>(memory.get(), piece.size())));
    std::memset(memory.get(), 0xEE, piece.size() + 1);
  }

  // Takes and acknowledges everything the session has queued now.
  static Bytes take_all(Pipe& pipe) {
    Bytes out;
    for (Stream piece = pipe.take_piece(); !piece.empty(); piece = pipe.take_piece()) {
      const auto bytes = piece.to_bytes();
      out.insert(out.end(), bytes.begin(), bytes.end());
      pipe.acknowledged(bytes.size());
    }
    EXPECT_EQ(pipe.unacknowledged(), 0u);
    return out;
  }

  static void expect_client_messages(Core& server) {
    for (const Bytes& want : client_messages()) {
      auto m = server.get_until(Clock::now() + 5s);
      ASSERT_TRUE(m) << "a message of the capture never reached get()";
      EXPECT_EQ(m->peer, client_id);
      EXPECT_EQ(m->data.to_bytes(), want);
      EXPECT_FALSE(m->part);
    }
  }

  static void put_world_and_direct(Core& server) {
    server.put(Stream::borrow(std::string_view("world")), {});
    server.put(Stream::borrow(std::string_view("direct")), std::span(&client_id, 1));
  }

  Hub* hub_ = nullptr;
};

// ---- MQTT: one session per topic, pieces cut anywhere ------------------------

class MqttReplay : public PieceReplay, public testing::WithParamInterface<std::pair<std::string, int>> {};

TEST_P(MqttReplay, ACapturedClientStreamIsServedAndAnsweredByteForByte) {
  const auto [prefix, count] = GetParam();
  const auto c2s = pieces(prefix, count);
  auto server = make(Purpose::server, server_id);
  auto link = std::make_shared<ScriptedLink>();
  auto pipe = attach(link, client_id.hex());
  ASSERT_TRUE(pipe);
  for (std::size_t i = 0; i + 1 < c2s.size(); ++i) hand_up(*pipe, c2s[i]);  // all but the goodbye
  expect_client_messages(*server);
  put_world_and_direct(*server);
  hand_up(*pipe, c2s.back());  // the client's goodbye
  EXPECT_EQ(take_all(*pipe), wire("tcp-s2c.bin")) << "hello, world, direct, goodbye";
  EXPECT_TRUE(link->closed && link->closed_gracefully) << "both goodbyes went: the link is closed";
  pipe->detached(LinkEnd::lost, "closed", {});
  EXPECT_TRUE(server->peers().empty());
  EXPECT_TRUE(server->close_for(1s));
}

INSTANTIATE_TEST_SUITE_P(Captures, MqttReplay,
                         testing::Values(std::pair<std::string, int>{"mqtt-c2s", 6},
                                         std::pair<std::string, int>{"mqtt-burst-c2s", 3},
                                         std::pair<std::string, int>{"mqtt-cut32k-c2s", 9}),
                         [](const auto& info) {
                           std::string name = info.param.first.substr(0, info.param.first.size() - 4);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST_F(PieceReplay, ACapturedServerStreamIsReadByAClientThatAnswersByteForByte) {
  const auto s2c = pieces("mqtt-s2c", 4);
  auto client = make(Purpose::client, client_id);
  auto link = std::make_shared<ScriptedLink>();
  auto pipe = attach(link, "");
  ASSERT_TRUE(pipe);
  for (const Bytes& m : client_messages()) client->put(Stream::copy_of(m), {});
  Bytes sent = take_all(*pipe);
  for (std::size_t i = 0; i < 3; ++i) hand_up(*pipe, s2c[i]);
  for (const char* want : {"world", "direct"}) {
    auto m = client->get_until(Clock::now() + 5s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->peer, server_id);
    EXPECT_EQ(m->data.to_string(), want);
  }
  // close() says goodbye and waits for the server's: driven from here.
  auto closed = std::async(std::launch::async, [&] { return client->close_for(5s); });
  for (auto until = Clock::now() + 5s; sent.size() < wire("tcp-c2s.bin").size() && Clock::now() < until;) {
    const Bytes more = take_all(*pipe);
    sent.insert(sent.end(), more.begin(), more.end());
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(sent, wire("tcp-c2s.bin")) << "hello, the four messages, goodbye";
  hand_up(*pipe, s2c[3]);  // the server's goodbye
  ASSERT_TRUE(nqtest::eventually([&] { return link->closed.load(); }, 5s)) << "the link was never closed";
  pipe->detached(LinkEnd::lost, "closed", {});
  EXPECT_TRUE(closed.get()) << "the client's close was not graceful";
}

// ---- gRPC: one session across the calls of one connection -------------------

// The calls of the main capture: what the client sent in each.
struct Call {
  std::vector<int> c2s;  // indexes of grpc-c2s-NN.bin
};

TEST_F(PieceReplay, APollingGrpcClientKeepsOneSessionAcrossItsCalls) {
  const auto c2s = pieces("grpc-c2s", 5);
  auto server = make(Purpose::server, server_id);
  const std::string key = "ipv4:127.0.0.1:40000";
  // Streams 1 to 13 of the capture: data calls, two polls, the goodbye. (A
  // Python server answers the goodbye in a later poll; ours answers in the
  // goodbye's own call, which the client reads to its end.)
  const std::vector<Call> calls{{{0}}, {{1}}, {{2}}, {{3}}, {{}}, {{}}, {{4}}};
  Bytes answered;
  std::shared_ptr<Pipe> first;
  for (std::size_t n = 0; n < calls.size(); ++n) {
    auto link = std::make_shared<ScriptedLink>();
    auto pipe = attach(link, key);
    ASSERT_TRUE(pipe) << "call " << n;
    if (!first) first = pipe;
    EXPECT_EQ(pipe, first) << "call " << n << " did not continue the session";
    for (int i : calls[n].c2s) hand_up(*pipe, c2s[i]);
    if (n == 3) {
      expect_client_messages(*server);
      put_world_and_direct(*server);
    }
    const Bytes out = take_all(*pipe);  // what this call answers
    answered.insert(answered.end(), out.begin(), out.end());
    // The client half-closed; the call ends with status OK once flushed.
    pipe->detached(link->closed ? LinkEnd::lost : LinkEnd::resumable, "end of call", {});
  }
  EXPECT_EQ(answered, wire("tcp-s2c.bin")) << "hello, world, direct, goodbye over the calls";
  EXPECT_TRUE(nqtest::eventually([&] { return server->peers().empty(); }, 5s));
  EXPECT_TRUE(server->close_for(1s));
}

TEST_F(PieceReplay, ASessionWhoseClientStopsCallingEndsAtTheResumeTimeout) {
  Options o;
  o.connection.resume_timeout = 200ms;
  auto server = make(Purpose::server, o);
  auto link = std::make_shared<ScriptedLink>();
  auto pipe = attach(link, "ipv4:127.0.0.1:40001");
  ASSERT_TRUE(pipe);
  hand_up(*pipe, wire("grpc-c2s-00.bin"));
  ASSERT_TRUE(server->get_until(Clock::now() + 5s));
  take_all(*pipe);
  pipe->detached(LinkEnd::resumable, "end of call", {});
  EXPECT_EQ(server->peers().size(), 1u) << "a clean end of call keeps the session";
  EXPECT_TRUE(nqtest::eventually([&] { return server->peers().empty(); }, 5s))
      << "the session outlived connection.resume_timeout";
  EXPECT_TRUE(server->close_for(1s));
}

TEST_F(PieceReplay, ALinkThatNeverSaysHelloIsEndedAtTheHelloTimeout) {
  Options o;
  o.log = [](netqueue::LogLevel, std::string_view) {};  // the cut is expected
  o.connection.hello_timeout = 100ms;
  auto server = make(Purpose::server, o);
  auto link = std::make_shared<ScriptedLink>();
  auto pipe = attach(link, "");
  ASSERT_TRUE(pipe);
  ASSERT_TRUE(nqtest::eventually([&] { return link->closed.load(); }, 5s)) << "a silent link was never cut";
  EXPECT_FALSE(link->closed_gracefully);
  pipe->detached(LinkEnd::lost, "cut", {});
  EXPECT_TRUE(server->close_for(1s));
}

TEST_F(PieceReplay, AFirstFrameThatIsNotAHelloIsRefusedOnItsHeaderAlone) {
  auto server = make(Purpose::server, server_id);
  auto link = std::make_shared<ScriptedLink>();
  auto pipe = attach(link, "");
  ASSERT_TRUE(pipe);
  Bytes header(8);
  header[4] = std::byte{0x10};  // 256 MiB announced, nothing of it sent
  hand_up(*pipe, header);
  EXPECT_TRUE(link->closed) << "the header alone shows it is not a hello";
  EXPECT_FALSE(pipe->receiving());
  pipe->detached(LinkEnd::lost, "cut", {});
  EXPECT_FALSE(server->get_until(Clock::now() + 50ms)) << "nothing of a nameless session reaches get()";
  EXPECT_TRUE(server->close_for(1s));
}

TEST_F(PieceReplay, NothingFromASessionThatNeverSaidHelloReachesGetWhenItEndsMidFrame) {
  auto server = make(Purpose::server, server_id);
  auto link = std::make_shared<ScriptedLink>();
  auto pipe = attach(link, "");
  ASSERT_TRUE(pipe);
  const Bytes hello = wire("grpc-c2s-00.bin");
  hand_up(*pipe, Bytes(hello.begin(), hello.begin() + 12));  // half a hello
  pipe->detached(LinkEnd::lost, "reset", {});
  EXPECT_FALSE(server->get_until(Clock::now() + 50ms)) << "a truncated nameless stream reached get()";
  EXPECT_TRUE(server->close_for(1s));
}

}  // namespace
