// Wire compatibility with Python net-queue 2.x over TCP, against the real
// captures in shared/wire (see its README): the scenario's client stream
// replayed into a netqueue server, whole and cut at many boundaries, and a
// netqueue client talking to a raw server that plays the capture's server.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <netqueue/netqueue.hpp>
#include <ostream>
#include <random>
#include <span>
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
using netqueue::Options;
using netqueue::Protocol;
using netqueue::Purpose;

// The scenario of the captures.
const Id server_id = Id::parse("00112233-4455-6677-8899-aabbccddeeff");
const Id client_id = Id::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
constexpr std::size_t c2s_size = 100101, c2s_data_end = 100077;  // the client's goodbye starts at 100077
constexpr std::size_t s2c_size = 75, s2c_data_end = 51;          // the server's goodbye starts at 51

const Bytes& c2s() {
  static const Bytes bytes = read_file(wire_dir() + "/tcp-c2s.bin");
  return bytes;
}
const Bytes& s2c() {
  static const Bytes bytes = read_file(wire_dir() + "/tcp-s2c.bin");
  return bytes;
}

Bytes big_message() {
  Bytes out(100000);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i % 256);
  return out;
}

// The four messages the capture's client put, in order.
std::vector<Bytes> client_messages() {
  Bytes hello, sixteen;
  append(hello, std::string_view("hello"));
  append(sixteen, std::string_view("0123456789abcdef"));
  return {hello, Bytes{}, sixteen, big_message()};
}

// Equality of byte strings with a readable failure message.
testing::AssertionResult same_bytes(const Bytes& got, const Bytes& want) {
  const std::size_t at = first_difference(got, want);
  if (at == std::string::npos) return testing::AssertionSuccess();
  const std::size_t from = at >= 16 ? at - 16 : 0;
  return testing::AssertionFailure() << "got " << got.size() << " bytes, want " << want.size()
                                     << "; first difference at offset " << at << "\n  got  [" << from
                                     << "..]: " << hex_dump(std::span(got).subspan(std::min(from, got.size())), 48)
                                     << "\n  want [" << from
                                     << "..]: " << hex_dump(std::span(want).subspan(std::min(from, want.size())), 48);
}

// How a test cuts a byte stream into writes: sizes of the successive pieces,
// or 0 for "everything in one write".
using Cutter = std::function<std::size_t()>;

bool write_cut(RawSocket& raw, std::span<const std::byte> bytes, const Cutter& cut) {
  if (!cut) return raw.write_all(bytes);
  return raw.write_in_pieces(bytes, cut);
}

TEST(TcpWire, CapturesAreThere) {
  ASSERT_EQ(c2s().size(), c2s_size) << wire_dir();
  ASSERT_EQ(s2c().size(), s2c_size) << wire_dir();
  // The goodbyes are the hellos again.
  EXPECT_EQ(slice(c2s(), 0, 24), hello_frame(client_id));
  EXPECT_EQ(slice(c2s(), c2s_data_end, c2s_size), hello_frame(client_id));
  EXPECT_EQ(slice(s2c(), 0, 24), hello_frame(server_id));
  EXPECT_EQ(slice(s2c(), s2c_data_end, s2c_size), hello_frame(server_id));
}

// ---- B1/B2: the capture's client stream into a netqueue server ----------------

void replay_into_server(const Cutter& cut) {
  ASSERT_EQ(c2s().size(), c2s_size);
  ASSERT_EQ(s2c().size(), s2c_size);
  LogCapture log;
  PeerEvents events;
  Options so = server_options(plain_tcp());
  so.id = server_id;
  so.log = log.hook();
  events.install(so);
  Communicator server(Protocol::tcp, Purpose::server, so);

  RawSocket raw = RawSocket::connect(server.local_port());
  ASSERT_TRUE(write_cut(raw, std::span(c2s()).first(c2s_data_end), cut));

  const std::vector<Bytes> want = client_messages();
  for (std::size_t i = 0; i < want.size(); ++i) {
    auto m = server.get_for(ms(20000));
    ASSERT_TRUE(m) << "message " << i << " did not arrive\n" << log.dump();
    EXPECT_EQ(m->peer, client_id);
    EXPECT_FALSE(m->part.has_value());
    EXPECT_FALSE(m->truncated);
    EXPECT_TRUE(same_bytes(m->data.to_bytes(), want[i])) << "message " << i;
  }
  EXPECT_TRUE(events.wait_joined(client_id, ms(1000)));
  EXPECT_EQ(server.peers(), std::vector<Id>{client_id});

  auto world = server.put(text("world"));               // broadcast
  auto direct = server.put(text("direct"), client_id);  // to the client by id
  ASSERT_TRUE(world.wait_for(ms(10000)));
  ASSERT_TRUE(direct.wait_for(ms(10000)));
  EXPECT_NO_THROW(world.get());
  EXPECT_NO_THROW(direct.get());

  ASSERT_TRUE(write_cut(raw, std::span(c2s()).subspan(c2s_data_end), cut));
  Bytes got;
  EXPECT_EQ(raw.read_to_end(got, ms(10000)), RawSocket::Read::eof) << "the server did not end the session";
  EXPECT_TRUE(same_bytes(got, s2c())) << "server to client stream";

  EXPECT_TRUE(events.wait_left(client_id, ms(5000)));
  EXPECT_FALSE(server.try_get()) << "the goodbye (or something else) was delivered as data";
  EXPECT_EQ(server.statistics().truncated, 0u);
  EXPECT_EQ(server.statistics().messages_in, 4u);
  EXPECT_FALSE(log.contains(LogLevel::warning, {})) << log.dump();
  EXPECT_TRUE(server.close_for(std::chrono::seconds(5)));
}

TEST(TcpWire, ReplayCaptureIntoServer) { replay_into_server({}); }

struct CutCase {
  std::string name;
  std::function<Cutter()> make;
};

void PrintTo(const CutCase& c, std::ostream* os) { *os << c.name; }

class TcpWireCut : public testing::TestWithParam<CutCase> {};

TEST_P(TcpWireCut, ReplayCaptureIntoServer) { replay_into_server(GetParam().make()); }

Cutter fixed(std::size_t n) {
  return [n] { return n; };
}
Cutter random_cuts(std::uint32_t seed, std::size_t max) {
  auto rng = std::make_shared<std::mt19937>(seed);
  return [rng, max] { return std::uniform_int_distribution<std::size_t>(1, max)(*rng); };
}

INSTANTIATE_TEST_SUITE_P(Tcp, TcpWireCut,
                         testing::Values(CutCase{"every_byte", [] { return fixed(1); }},
                                         CutCase{"every_7_bytes", [] { return fixed(7); }},
                                         CutCase{"every_32768_bytes", [] { return fixed(32768); }},
                                         CutCase{"random_up_to_13_seed1", [] { return random_cuts(1, 13); }},
                                         CutCase{"random_up_to_100_seed2", [] { return random_cuts(2, 100); }},
                                         CutCase{"random_up_to_5000_seed3", [] { return random_cuts(3, 5000); }},
                                         CutCase{"random_up_to_40000_seed4", [] { return random_cuts(4, 40000); }}),
                         [](const testing::TestParamInfo<CutCase>& i) { return i.param.name; });

// Statistics after the replay, as communicator.hpp documents them: payload
// bytes and data messages, not wire bytes, hellos or goodbyes.
TEST(TcpWire, StatisticsCountPayloadOfDataMessages) {
  ASSERT_EQ(c2s().size(), c2s_size);
  Options so = server_options(plain_tcp());
  so.id = server_id;
  so.log = quiet_log();
  Communicator server(Protocol::tcp, Purpose::server, so);
  RawSocket raw = RawSocket::connect(server.local_port());
  ASSERT_TRUE(raw.write_all(std::span(c2s()).first(c2s_data_end)));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(server.get_for(ms(20000)));
  auto world = server.put(text("world"));
  auto direct = server.put(text("direct"), client_id);
  ASSERT_TRUE(world.wait_for(ms(10000)) && direct.wait_for(ms(10000)));
  ASSERT_TRUE(raw.write_all(std::span(c2s()).subspan(c2s_data_end)));
  Bytes got;
  EXPECT_EQ(raw.read_to_end(got, ms(10000)), RawSocket::Read::eof);
  const auto s = server.statistics();
  EXPECT_EQ(s.messages_in, 4u);
  EXPECT_EQ(s.bytes_in, 5u + 0u + 16u + 100000u) << "bytes_in is documented as payload bytes of messages received";
  EXPECT_EQ(s.messages_out, 2u) << "messages_out counted hello/goodbye frames";
  EXPECT_EQ(s.bytes_out, 5u + 6u) << "bytes_out is documented as payload bytes of messages handed over";
  EXPECT_TRUE(server.close_for(std::chrono::seconds(5)));
}

// ---- B3: a netqueue client against a raw server playing the capture --------

struct ClientCase {
  std::string name;
  bool wait_each_put;     // as the main capture did; false: the burst variant
  std::size_t s2c_piece;  // raw server writes in pieces of this size (0: whole)
};

void PrintTo(const ClientCase& c, std::ostream* os) { *os << c.name; }

class TcpWireClient : public testing::TestWithParam<ClientCase> {};

TEST_P(TcpWireClient, StreamEqualsCapture) {
  const ClientCase& p = GetParam();
  ASSERT_EQ(c2s().size(), c2s_size);
  ASSERT_EQ(s2c().size(), s2c_size);
  const Cutter cut = p.s2c_piece ? fixed(p.s2c_piece) : Cutter{};
  RawListener listener;
  LogCapture log;
  Options co = client_options(plain_tcp(), listener.port());
  co.id = client_id;
  co.connection.connect_timeout = std::chrono::seconds(10);
  co.log = log.hook();
  Communicator client(Protocol::tcp, Purpose::client, co);
  RawSocket raw = listener.accept(ms(10000));
  ASSERT_TRUE(raw.is_open()) << "the client did not connect";

  Bytes received;
  {
    // Read while the client writes: the kernel buffers need not hold 100 KB.
    std::jthread reader([&] { received = raw.read_exact(c2s_data_end, ms(20000)); });
    std::vector<netqueue::SendFuture> futures;
    for (Bytes& m : client_messages()) {
      futures.push_back(client.put(netqueue::Stream::adopt(std::move(m))));
      if (p.wait_each_put) {
        ASSERT_TRUE(futures.back().wait_for(ms(10000)));
        EXPECT_NO_THROW(futures.back().get());
      }
    }
    for (auto& f : futures) {
      ASSERT_TRUE(f.wait_for(ms(10000)));
      EXPECT_NO_THROW(f.get());
    }
  }
  ASSERT_TRUE(same_bytes(received, slice(c2s(), 0, c2s_data_end))) << "client to server stream";

  ASSERT_TRUE(write_cut(raw, std::span(s2c()).first(s2c_data_end), cut));
  for (const char* want : {"world", "direct"}) {
    auto m = client.get_for(ms(10000));
    ASSERT_TRUE(m) << want << " did not arrive\n" << log.dump();
    EXPECT_EQ(m->peer, server_id);
    EXPECT_EQ(text_of(*m), want);
    EXPECT_FALSE(m->part.has_value());
  }
  EXPECT_EQ(client.peers(), std::vector<Id>{server_id});

  std::atomic<int> closed{-1};
  {
    std::jthread closer([&] { closed = client.close_for(std::chrono::seconds(20)) ? 1 : 0; });
    Bytes goodbye = raw.read_exact(c2s_size - c2s_data_end, ms(10000));
    EXPECT_TRUE(same_bytes(goodbye, slice(c2s(), c2s_data_end, c2s_size))) << "the client's goodbye";
    append(received, goodbye);
    EXPECT_TRUE(write_cut(raw, std::span(s2c()).subspan(s2c_data_end), cut));
    Bytes after;
    EXPECT_EQ(raw.read_to_end(after, ms(10000)), RawSocket::Read::eof) << "the client did not end the session";
    append(received, after);
    raw.close();
  }
  EXPECT_EQ(closed.load(), 1) << "client.close() did not end gracefully\n" << log.dump();
  EXPECT_TRUE(same_bytes(received, c2s())) << "the whole client to server stream";
  EXPECT_THROW(client.get_for(ms(1000)), netqueue::ClosedError);
  EXPECT_FALSE(log.contains(LogLevel::warning, {})) << log.dump();
}

INSTANTIATE_TEST_SUITE_P(Tcp, TcpWireClient,
                         testing::Values(ClientCase{"sync", true, 0}, ClientCase{"burst", false, 0},
                                         ClientCase{"sync_server_bytes_one_by_one", true, 1},
                                         ClientCase{"burst_server_bytes_in_5s", false, 5}),
                         [](const testing::TestParamInfo<ClientCase>& i) { return i.param.name; });

}  // namespace
