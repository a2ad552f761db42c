// Bad input from raw sockets into a netqueue TCP server (SPEC "Bad input,
// faults and limits"). In every test the bad session must end with a clear
// error, while a well-behaved client (the bystander) keeps working and loses
// nothing: it exchanges messages before and after the bad connection, and
// messages it sent before (still waiting in the server's inbox) are all there.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <netqueue/netqueue.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "support/helpers.hpp"
#include "tcp/raw_socket.hpp"
#include "tcp/tcp_support.hpp"

namespace {

using namespace nqtest;
using netqueue::Communicator;
using netqueue::Id;
using netqueue::LogLevel;
using netqueue::Message;
using netqueue::MiB;
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;

constexpr std::size_t before_count = 5;

class TcpBadInput : public testing::Test {
 protected:
  // A server with a capturing log and peer events, and a bystander that did a
  // round trip and left `before_count` + 1 messages in the server's inbox.
  void start(const TransportCase& c, const std::function<void(Options&)>& tweak = {}) {
    Options so = server_options(c);
    so.log = log.hook();
    events.install(so);
    if (tweak) tweak(so);
    server.emplace(Protocol::tcp, Purpose::server, so);
    port = server->local_port();
    ASSERT_NE(port, 0);
    tap.emplace(*server);
    Options co = client_options(c, port);
    co.log = client_log.hook();
    bystander.emplace(*server, *tap, co);
    ASSERT_NO_FATAL_FAILURE(bystander->round_trip("first"));
    ASSERT_NO_FATAL_FAILURE(bystander->send("before", before_count));
    // Put futures resolve on hand-over; wait until the server really holds them.
    ASSERT_TRUE(eventually([&] { return server->statistics().queued >= before_count + 1; }, ms(10000)));
    start_messages_in = server->statistics().messages_in;
  }

  // What the server had received from the bystander when start() returned.
  std::uint64_t bystander_messages_in() const { return start_messages_in; }

  // After the bad connection: nothing the bystander sent is lost, it keeps
  // working, and it is still the only peer.
  void check_bystander() {
    ASSERT_NO_FATAL_FAILURE(bystander->expect_received("before", before_count));
    ASSERT_NO_FATAL_FAILURE(bystander->round_trip("after"));
    EXPECT_EQ(server->peers(), std::vector<Id>{bystander->client.id()});
    EXPECT_EQ(server->statistics().peers, 1u);
    EXPECT_EQ(events.left_count(bystander->client.id()), 0u) << "the bystander was disconnected";
    EXPECT_FALSE(client_log.contains(LogLevel::error, {})) << client_log.dump();
  }

  void TearDown() override {
    if (bystander) {
      EXPECT_TRUE(bystander->client.close_for(std::chrono::seconds(10))) << client_log.dump();
    }
    if (server) {
      EXPECT_TRUE(server->close_for(std::chrono::seconds(10))) << log.dump();
    }
  }

  const Id& bystander_id() const { return bystander->client.id(); }
  std::uint64_t start_messages_in = 0;

  LogCapture log, client_log;
  PeerEvents events;
  std::optional<Communicator> server;
  std::uint16_t port = 0;
  std::optional<Tap> tap;
  std::optional<Bystander> bystander;
};

std::size_t growth(std::size_t before, std::size_t after) { return after > before ? after - before : 0; }

// ---- A1: a lying length header ----------------------------------------------

struct LyingCase {
  std::string name;
  std::uint64_t announced;
  std::uint64_t message_size;
  bool parts;  // announced > message_size: what came is delivered as parts
};

void PrintTo(const LyingCase& c, std::ostream* os) { *os << c.name; }

class TcpLyingHeader : public TcpBadInput, public testing::WithParamInterface<LyingCase> {};

TEST_P(TcpLyingHeader, CostsOnlyTheBytesSentAndEndsTruncated) {
  const LyingCase& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(start(plain_tcp(), [&](Options& o) { o.serialization.message_size = p.message_size; }));
  const std::size_t rss_before = rss_bytes();
  const Id liar = Id::random();
  const Bytes sent = pattern(5000, 7);
  const auto bytes_in_before = server->statistics().stream_bytes_in;

  RawSocket raw = RawSocket::connect(port);
  Bytes out = hello_frame(liar);
  append(out, frame_header(p.announced));
  append(out, sent);
  ASSERT_TRUE(raw.write_all(out));
  EXPECT_EQ(raw.read_exact(24, ms(10000)), hello_frame(server->id())) << "the server's hello";
  ASSERT_TRUE(
      eventually([&] { return server->statistics().stream_bytes_in >= bytes_in_before + out.size(); }, ms(10000)));
  const std::size_t rss_during = rss_bytes();
  raw.shutdown_write();  // the disconnect, after every byte
  EXPECT_TRUE(raw.wait_closed(ms(10000))) << "the server did not end the session";
  ASSERT_TRUE(events.wait_left(liar, ms(10000))) << log.dump();

  std::vector<Message> got = tap->all_from(liar);
  const std::size_t rss_after = rss_bytes();
  EXPECT_LT(growth(rss_before, rss_during), 64 * MiB);
  EXPECT_LT(growth(rss_before, rss_after), 64 * MiB);
  // One rule for every size: what came is delivered, the last piece marked
  // truncated; in parts of at most message_size when the announced length is
  // over it, else as one message.
  ASSERT_FALSE(got.empty()) << "what came of the lying message was not delivered";
  if (!p.parts) {
    EXPECT_EQ(got.size(), 1u) << "a message under message_size came in parts";
  }
  std::uint64_t offset = 0;
  Bytes whole;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const Message& m = got[i];
    const bool final = i + 1 == got.size();
    ASSERT_TRUE(m.part.has_value()) << "part " << i;
    EXPECT_EQ(m.part->offset, offset) << "part " << i;
    EXPECT_EQ(m.part->total, p.announced) << "part " << i;
    EXPECT_EQ(m.part->last, final) << "part " << i;
    EXPECT_EQ(m.truncated, final) << "part " << i;
    EXPECT_LE(m.data.size(), p.message_size);
    offset += m.data.size();
    append(whole, m.data.to_bytes());
  }
  EXPECT_EQ(whole, sent);
  const auto stats = server->statistics();
  EXPECT_EQ(stats.truncated, 1u) << "one message was cut short";
  EXPECT_EQ(stats.messages_in, bystander_messages_in() + got.size()) << "statistics count what get() saw";
  EXPECT_TRUE(log.contains(LogLevel::warning, {liar.str(), "127.0.0.1:", "truncated"})) << log.dump();
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

INSTANTIATE_TEST_SUITE_P(
    Tcp, TcpLyingHeader,
    testing::Values(LyingCase{"max_u64_parts_of_1MiB", std::numeric_limits<std::uint64_t>::max(), 1 * MiB, true},
                    LyingCase{"max_u64_parts_of_1GiB", std::numeric_limits<std::uint64_t>::max(), netqueue::GiB, true},
                    LyingCase{"half_GiB_whole", 512 * MiB, netqueue::GiB, false}),
    [](const testing::TestParamInfo<LyingCase>& i) { return i.param.name; });

// ---- A2: a frame truncated by the disconnect --------------------------------

struct TruncatedCase {
  std::string name;
  Bytes tail;  // what follows the hello
  std::optional<std::uint64_t> announced;  // of the message cut short; none: cut inside its header
};

void PrintTo(const TruncatedCase& c, std::ostream* os) { *os << c.name; }

class TcpTruncatedFrame : public TcpBadInput, public testing::WithParamInterface<TruncatedCase> {};

TEST_P(TcpTruncatedFrame, DeliversWhatCameMarkedTruncated) {
  const TruncatedCase& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(start(plain_tcp()));
  const Id peer = Id::random();
  RawSocket raw = RawSocket::connect(port);
  Bytes out = hello_frame(peer);
  append(out, frame("whole"));  // a good message first: it must arrive
  append(out, p.tail);
  ASSERT_TRUE(raw.write_all(out));
  EXPECT_EQ(raw.read_exact(24, ms(10000)), hello_frame(server->id()));
  raw.shutdown_write();
  EXPECT_TRUE(raw.wait_closed(ms(10000))) << "the server did not end the session";
  ASSERT_TRUE(events.wait_left(peer, ms(10000))) << log.dump();

  std::vector<Message> got = tap->all_from(peer);
  ASSERT_GE(got.size(), 1u);
  EXPECT_EQ(text_of(got[0]), "whole");
  EXPECT_FALSE(got[0].truncated);
  EXPECT_FALSE(got[0].part.has_value());
  const auto stats = server->statistics();
  if (!p.announced) {
    // No message was announced: nothing to deliver, nothing truncated.
    EXPECT_EQ(got.size(), 1u) << "half a frame header was delivered";
    EXPECT_EQ(stats.truncated, 0u);
    EXPECT_TRUE(log.contains(LogLevel::warning, {peer.str(), "inside a frame header"})) << log.dump();
  } else {
    ASSERT_EQ(got.size(), 2u) << "the message cut short was not delivered";
    const Message& cut = got[1];
    EXPECT_TRUE(cut.truncated);
    ASSERT_TRUE(cut.part.has_value());
    EXPECT_EQ(cut.part->offset, 0u);
    EXPECT_EQ(cut.part->total, *p.announced);
    EXPECT_TRUE(cut.part->last);
    EXPECT_EQ(cut.data.to_bytes(), slice(p.tail, 8, p.tail.size())) << "not what came of the message";
    EXPECT_EQ(stats.truncated, 1u);
    EXPECT_TRUE(log.contains(LogLevel::warning, {peer.str(), "127.0.0.1:", "truncated"})) << log.dump();
  }
  EXPECT_EQ(stats.messages_in, bystander_messages_in() + got.size()) << "statistics count what get() saw";
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

Bytes truncated_tail(std::uint64_t announced, std::size_t sent) {
  Bytes out = frame_header(announced);
  append(out, pattern(sent, 3));
  return out;
}

INSTANTIATE_TEST_SUITE_P(Tcp, TcpTruncatedFrame,
                         testing::Values(TruncatedCase{"small_1000_of_10", truncated_tail(1000, 10), 1000},
                                         TruncatedCase{"large_100000_of_10", truncated_tail(100000, 10), 100000},
                                         TruncatedCase{"large_100000_of_50000", truncated_tail(100000, 50000), 100000},
                                         TruncatedCase{"header_3_of_8", slice(frame_header(1000), 0, 3), std::nullopt}),
                         [](const testing::TestParamInfo<TruncatedCase>& i) { return i.param.name; });

// ---- A3: a first frame that is not a 16-byte hello --------------------------

class TcpBadHello : public TcpBadInput, public testing::WithParamInterface<std::size_t> {};

TEST_P(TcpBadHello, IsRefused) {
  ASSERT_NO_FATAL_FAILURE(start(plain_tcp()));
  RawSocket raw = RawSocket::connect(port);
  const std::string where = "127.0.0.1:" + std::to_string(raw.local_port());
  ASSERT_TRUE(raw.write_all(frame(pattern(GetParam(), 11))));
  Bytes got;
  const auto end = raw.read_to_end(got, ms(10000));
  EXPECT_TRUE(end == RawSocket::Read::eof || end == RawSocket::Read::error) << "the server kept the connection";
  EXPECT_TRUE(got.empty()) << "the server answered a bad hello: " << hex_dump(got);
  EXPECT_TRUE(log.wait_for(LogLevel::error, {"hello", where}, ms(5000))) << log.dump();
  EXPECT_EQ(server->statistics().truncated, 0u);
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

INSTANTIATE_TEST_SUITE_P(Tcp, TcpBadHello, testing::Values(0, 5, 15, 17, 1000, 40000),
                         [](const testing::TestParamInfo<std::size_t>& i) {
                           return "frame_of_" + std::to_string(i.param);
                         });

// ---- A4: a hello naming an id that is connected -----------------------------

TEST_F(TcpBadInput, DuplicateIdIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start(plain_tcp()));
  RawSocket raw = RawSocket::connect(port);
  Bytes out = hello_frame(bystander_id());
  append(out, frame("impostor"));
  ASSERT_TRUE(raw.write_all(out));
  Bytes got;
  const auto end = raw.read_to_end(got, ms(10000));
  EXPECT_TRUE(end == RawSocket::Read::eof || end == RawSocket::Read::error) << "the server kept the impostor";
  EXPECT_TRUE(got.empty()) << "the server said hello to the impostor: " << hex_dump(got);
  EXPECT_TRUE(log.wait_for(LogLevel::error, {"already connected", bystander_id().str()}, ms(5000))) << log.dump();
  EXPECT_EQ(events.joined_count(bystander_id()), 1u);
  ASSERT_NO_FATAL_FAILURE(check_bystander());
  for (const Message& m : tap->all_from(bystander_id(), ms(50)))
    EXPECT_NE(text_of(m), "impostor") << "the impostor's data was delivered as the bystander's";
}

// ---- data after the peer's goodbye ----------------------------------------------

TEST_F(TcpBadInput, DataAfterGoodbyeIsNotDelivered) {
  ASSERT_NO_FATAL_FAILURE(start(plain_tcp()));
  const Id peer = Id::random();
  RawSocket raw = RawSocket::connect(port);
  Bytes out = hello_frame(peer);
  append(out, frame("before goodbye"));
  append(out, hello_frame(peer));  // goodbye
  append(out, frame("after goodbye"));
  ASSERT_TRUE(raw.write_all(out));  // one write: the server reads it at once
  EXPECT_TRUE(raw.wait_closed(ms(10000))) << "the server did not end the session";
  ASSERT_TRUE(events.wait_left(peer, ms(10000))) << log.dump();
  std::vector<Message> got = tap->all_from(peer);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(text_of(got[0]), "before goodbye");
  EXPECT_TRUE(log.contains(LogLevel::error, {peer.str(), "goodbye"})) << log.dump();
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

// ---- a server that is never up --------------------------------------------------

// connect_timeout passes: the pending put and get fail with connect_failed,
// and so does a put made afterwards (same error whatever the timing).
TEST(TcpConnect, ServerNeverUpFailsPutsAndGetWithConnectFailed) {
  RawListener refusing(false);  // bound, not listening: connections are refused
  LogCapture client_log;
  Options o = client_options(plain_tcp(), refusing.port());
  o.connection.connect_timeout = ms(500);
  o.log = client_log.hook();
  Communicator client(Protocol::tcp, Purpose::client, o);
  auto pending = client.put(text("pending"));
  ASSERT_TRUE(pending.wait_for(ms(10000))) << "the pending put outlived connect_timeout";
  const std::string where = "127.0.0.1:" + std::to_string(refusing.port());
  auto check = [&](const netqueue::Error& e) {
    EXPECT_EQ(e.value(), netqueue::errc::connect_failed) << e.what();
    EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
  };
  try {
    pending.get();
    ADD_FAILURE() << "the put succeeded";
  } catch (const netqueue::Error& e) {
    check(e);
  }
  try {
    client.get_for(ms(5000));
    ADD_FAILURE() << "get did not fail";
  } catch (const netqueue::Error& e) {
    check(e);
  }
  std::this_thread::sleep_for(ms(200));
  auto later = client.put(text("later"));
  ASSERT_TRUE(later.wait_for(ms(5000)));
  try {
    later.get();
    ADD_FAILURE() << "the put succeeded";
  } catch (const netqueue::Error& e) {
    check(e);
  }
  EXPECT_TRUE(client_log.contains(LogLevel::error, {"could not connect"})) << client_log.dump();
  client.close_for(std::chrono::seconds(5));
}

// ---- A5/A6: TLS --------------------------------------------------------------

#ifdef NETQUEUE_TEST_HAVE_TLS

struct GarbageCase {
  std::string name;
  Bytes bytes;
};

void PrintTo(const GarbageCase& c, std::ostream* os) { *os << c.name; }

class TcpTlsGarbage : public TcpBadInput, public testing::WithParamInterface<GarbageCase> {};

TEST_P(TcpTlsGarbage, EndsWithHandshakeError) {
  ASSERT_NO_FATAL_FAILURE(start(tls_tcp()));
  RawSocket raw = RawSocket::connect(port);
  const std::string where = "127.0.0.1:" + std::to_string(raw.local_port());
  ASSERT_TRUE(raw.write_all(GetParam().bytes));
  EXPECT_TRUE(raw.wait_closed(ms(10000))) << "the server kept a connection that failed TLS";
  EXPECT_TRUE(log.wait_for(LogLevel::error, {"TLS handshake", where}, ms(5000))) << log.dump();
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

Bytes plaintext_netqueue_client() {
  Bytes out = hello_frame(Id::random());
  append(out, frame("plaintext data"));
  return out;
}

Bytes http_request() {
  Bytes out;
  append(out, std::string_view("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  append(out, Bytes(1000, std::byte{0xff}));
  return out;
}

INSTANTIATE_TEST_SUITE_P(Tcp, TcpTlsGarbage,
                         testing::Values(GarbageCase{"plaintext_netqueue_client", plaintext_netqueue_client()},
                                         GarbageCase{"http_request", http_request()}),
                         [](const testing::TestParamInfo<GarbageCase>& i) { return i.param.name; });

// What a client that could not connect must fail with.
void expect_connect_failed(const netqueue::Error& e) {
  EXPECT_EQ(e.value(), netqueue::errc::connect_failed) << e.what();
  const std::string what = e.what();
  EXPECT_TRUE(what.find("handshake") != std::string::npos || what.find("certificate") != std::string::npos) << what;
}

void expect_put_connect_failed(const netqueue::SendFuture& f) {
  ASSERT_TRUE(f.wait_for(ms(15000))) << "the put never ended";
  try {
    f.get();
    ADD_FAILURE() << "the put to an untrusted server succeeded";
  } catch (const netqueue::Error& e) {
    expect_connect_failed(e);
  }
}

void expect_get_connect_failed(Communicator& client) {
  try {
    auto m = client.get_for(ms(5000));
    ADD_FAILURE() << "get on a client that could not connect returned " << (m ? "a message" : "nothing");
  } catch (const netqueue::Error& e) {
    expect_connect_failed(e);
  }
}

Options untrusted_options(std::uint16_t port, const LogCapture& log) {
  Options o = client_options(tls_tcp(), port);
  o.security.certificate = certs_dir() + "/other-ca.pem";
  o.connection.connect_timeout = std::chrono::seconds(2);
  o.log = log.hook();
  return o;
}

// The put is made while the handshake is held back (the client connects to a
// gate that relays to the server only after the put), so it is pending when
// the handshake fails.
TEST_F(TcpBadInput, UntrustedServerCertificateFailsPendingPutAndGet) {
  ASSERT_NO_FATAL_FAILURE(start(tls_tcp()));
  RawListener gate;
  LogCapture untrusted_log;
  const auto t0 = std::chrono::steady_clock::now();
  Communicator untrusted(Protocol::tcp, Purpose::client, untrusted_options(gate.port(), untrusted_log));
  RawSocket held = gate.accept(ms(10000));
  ASSERT_TRUE(held.is_open()) << "the client did not connect";
  auto f = untrusted.put(text("must not be sent"));
  EXPECT_FALSE(f.ready());
  std::optional<Relay> relay;
  relay.emplace(std::move(held), RawSocket::connect(port));
  ASSERT_NO_FATAL_FAILURE(expect_put_connect_failed(f));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  ASSERT_NO_FATAL_FAILURE(expect_get_connect_failed(untrusted));
  EXPECT_TRUE(untrusted.peers().empty());
  EXPECT_TRUE(untrusted_log.contains(LogLevel::error, {"certificate"})) << untrusted_log.dump();
  // OpenSSL's reason, which says what to fix.
  EXPECT_TRUE(untrusted_log.contains(LogLevel::error, {"unable to get local issuer certificate"}))
      << untrusted_log.dump();
  untrusted.close_for(std::chrono::seconds(5));
  relay.reset();
  EXPECT_TRUE(log.wait_for(LogLevel::error, {"TLS handshake"}, ms(5000))) << log.dump();
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

// A put made after the failure is known must fail the same way (not with a
// ClosedError naming no peer): which error a caller sees must not depend on
// how fast the handshake failed.
TEST_F(TcpBadInput, UntrustedServerCertificateFailsLaterPutAndGet) {
  ASSERT_NO_FATAL_FAILURE(start(tls_tcp()));
  LogCapture untrusted_log;
  Communicator untrusted(Protocol::tcp, Purpose::client, untrusted_options(port, untrusted_log));
  ASSERT_TRUE(untrusted_log.wait_for(LogLevel::error, {"certificate"}, ms(10000))) << untrusted_log.dump();
  ASSERT_NO_FATAL_FAILURE(expect_get_connect_failed(untrusted));
  // The failure is logged, and get fails, just before the client's session is
  // ended: leave it time to end.
  std::this_thread::sleep_for(ms(200));
  ASSERT_NO_FATAL_FAILURE(expect_put_connect_failed(untrusted.put(text("must not be sent"))));
  untrusted.close_for(std::chrono::seconds(5));
  EXPECT_TRUE(log.wait_for(LogLevel::error, {"TLS handshake"}, ms(5000))) << log.dump();
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

// A server that accepts the TCP connection but never answers the TLS
// handshake is not reached: after connect_timeout the client fails its
// pending put and get instead of waiting forever.
TEST(TcpTls, SilentServerFailsTheClientAfterConnectTimeout) {
  RawListener silent;
  LogCapture client_log;
  Options o = client_options(tls_tcp(), silent.port());
  o.connection.connect_timeout = std::chrono::seconds(2);
  o.log = client_log.hook();
  Communicator client(Protocol::tcp, Purpose::client, o);
  RawSocket held = silent.accept(ms(10000));
  ASSERT_TRUE(held.is_open()) << "the client did not connect";
  auto f = client.put(text("never"));
  const bool ended = f.wait_for(ms(10000));
  EXPECT_TRUE(ended) << "a put to a server that never finished the TLS handshake was still pending 10 s after "
                        "connect_timeout (2 s)\n"
                     << client_log.dump();
  if (ended) {
    try {
      f.get();
      ADD_FAILURE() << "the put succeeded";
    } catch (const netqueue::Error& e) {
      EXPECT_EQ(e.value(), netqueue::errc::connect_failed) << e.what();
    }
  }
  try {
    auto m = client.get_for(ms(ended ? 5000 : 100));
    EXPECT_TRUE(false) << "get returned " << (m ? "a message" : "nothing") << " instead of failing";
  } catch (const netqueue::Error& e) {
    EXPECT_EQ(e.value(), netqueue::errc::connect_failed) << e.what();
  }
  held.close();
  client.close_for(std::chrono::seconds(5));
}

#endif  // NETQUEUE_TEST_HAVE_TLS

// ---- A7: a peer that is killed -------------------------------------------------

TEST_F(TcpBadInput, KilledPeerFailsItsPutsWithClosedError) {
  ASSERT_NO_FATAL_FAILURE(start(plain_tcp()));
  const Id victim = Id::random();
  RawSocket raw = RawSocket::connect(port);
  Bytes out = hello_frame(victim);
  append(out, frame("k1"));
  append(out, frame("k2"));
  ASSERT_TRUE(raw.write_all(out));
  EXPECT_EQ(raw.read_exact(24, ms(10000)), hello_frame(server->id()));
  ASSERT_TRUE(events.wait_joined(victim, ms(5000)));
  for (const char* expected : {"k1", "k2"}) {
    auto m = tap->next_from(victim, ms(10000));
    ASSERT_TRUE(m) << expected;
    EXPECT_EQ(text_of(*m), expected);
  }

  auto small = server->put(text("small"), victim);
  ASSERT_TRUE(small.wait_for(ms(10000)));
  EXPECT_NO_THROW(small.get());
  // Far more than the kernel buffers hold while the peer reads nothing.
  auto huge = server->put(netqueue::Stream::adopt(std::vector<std::byte>(64 * MiB)), victim);
  auto behind = server->put(text("behind"), victim);
  EXPECT_FALSE(huge.wait_for(ms(300))) << "64 MiB were handed over to a peer that reads nothing";

  raw.abort();  // killed: RST
  ASSERT_TRUE(events.wait_left(victim, ms(10000))) << log.dump();
  for (auto* f : {&huge, &behind}) {
    ASSERT_TRUE(f->wait_for(ms(10000))) << "a put to a killed peer never ended";
    try {
      f->get();
      ADD_FAILURE() << "a put to a killed peer succeeded";
    } catch (const netqueue::ClosedError& e) {
      EXPECT_EQ(e.peer(), victim) << e.what();
      // A dropped connection is errc::closed, with the socket's reason kept.
      EXPECT_EQ(e.value(), netqueue::errc::closed) << e.what();
      EXPECT_TRUE(e.cause() == std::errc::connection_reset || e.cause() == std::errc::broken_pipe)
          << e.cause().message() << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not a ClosedError: " << e.what();
    }
    auto results = f->results();
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].peer, victim);
    EXPECT_TRUE(results[0].error);
  }
  // A put after the peer is known to be gone fails the same way.
  auto late = server->put(text("late"), victim);
  ASSERT_TRUE(late.wait_for(ms(5000)));
  try {
    late.get();
    ADD_FAILURE() << "a put to a gone peer succeeded";
  } catch (const netqueue::ClosedError& e) {
    EXPECT_EQ(e.peer(), victim) << e.what();
  }
  EXPECT_TRUE(tap->all_from(victim).empty()) << "more was delivered from the killed peer";
  EXPECT_EQ(server->statistics().truncated, 0u);
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

TEST_F(TcpBadInput, PeerKilledInsideAMessageDeliversNothingCorrupted) {
  ASSERT_NO_FATAL_FAILURE(start(plain_tcp()));
  const Id victim = Id::random();
  RawSocket raw = RawSocket::connect(port);
  Bytes out = hello_frame(victim);
  append(out, frame("k1"));
  ASSERT_TRUE(raw.write_all(out));
  EXPECT_EQ(raw.read_exact(24, ms(10000)), hello_frame(server->id()));
  auto m = tap->next_from(victim, ms(10000));
  ASSERT_TRUE(m);
  EXPECT_EQ(text_of(*m), "k1");
  ASSERT_TRUE(raw.write_all(truncated_tail(1 * MiB, 500 * 1000)));
  raw.abort();
  ASSERT_TRUE(events.wait_left(victim, ms(10000))) << log.dump();
  // The reset may drop bytes the server had not read yet: what is delivered
  // is a prefix of the message, marked truncated, or nothing.
  std::vector<Message> got = tap->all_from(victim);
  ASSERT_LE(got.size(), 1u) << "more than the message cut short was delivered";
  if (!got.empty()) {
    const Message& cut = got[0];
    EXPECT_TRUE(cut.truncated);
    ASSERT_TRUE(cut.part.has_value());
    EXPECT_EQ(cut.part->total, 1 * MiB);
    EXPECT_LT(cut.data.size(), 1 * MiB);
    EXPECT_EQ(cut.data.to_bytes(), slice(pattern(500 * 1000, 3), 0, cut.data.size())) << "not a prefix of what was sent";
  }
  EXPECT_EQ(server->statistics().truncated, got.size()) << "statistics count what get() saw";
  ASSERT_NO_FATAL_FAILURE(check_bystander());
}

}  // namespace
