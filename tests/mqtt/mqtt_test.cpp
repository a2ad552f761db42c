// MQTT faults and interoperability, each against a mosquitto of its own (so
// that it may be killed) or the shared one. Every wait is bounded.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <netqueue/netqueue.hpp>
#include <thread>

#include "support/helpers.hpp"
#include "support/mqtt_fixture.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

const TransportCase plain{"mqtt", Protocol::mqtt};

Options server_at(std::uint16_t port) {
  Options o = nqtest::server_options(plain);
  o.netloc.port = port;
  return o;
}

Options client_at(std::uint16_t port) {
  Options o = nqtest::client_options(plain, port);
  o.connection.connect_timeout = 20s;
  return o;
}

// Runs a Python script (Debian's python3-paho-mqtt) with arguments, bounded
// by `timeout`; returns its exit status and fills `output` with what it printed.
int run_python(const std::string& script, const std::string& args, std::string& output, int timeout = 30) {
  char path[] = "/tmp/netqueue-mqtt-peer-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return -1;
  ::close(fd);
  std::ofstream(path) << script;
  const std::string command =
      "timeout " + std::to_string(timeout) + " /usr/bin/python3 " + path + " " + args + " 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return -1;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, p)) output.append(buffer, n);
  const int status = ::pclose(p);
  std::remove(path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Mqtt, ABrokerThatComesUpLateIsReachedWithinTheConnectTimeout) {
  Broker broker;  // not started yet
  auto s = std::make_unique<Communicator>(Protocol::mqtt, Purpose::server, server_at(broker.port()));
  auto c = std::make_unique<Communicator>(Protocol::mqtt, Purpose::client, client_at(broker.port()));
  auto f = c->put(text("early"));
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(f.ready()) << "a put resolved while no broker was up";
  broker.start();
  auto m = s->get_for(20s);
  ASSERT_TRUE(m) << "the server got nothing after the broker came up";
  EXPECT_EQ(m->data.to_string(), "early");
  EXPECT_NO_THROW(f.get());
  s->put(text("late"), c->id()).get();
  auto r = c->get_for(20s);
  ASSERT_TRUE(r) << "the client got nothing back";
  EXPECT_EQ(r->data.to_string(), "late");
  c->close();
  EXPECT_TRUE(s->close_for(10s));
}

// How a client's first put ends when it cannot reach its broker: the error's
// text, after checking it is errc::connect_failed; "" when the put succeeded.
std::string connect_failure(Communicator& c) {
  auto f = c.put(text("never"));
  if (!f.wait_for(20s)) {
    ADD_FAILURE() << "the put did not end after the connect timeout";
    return "pending";
  }
  try {
    f.get();
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), errc::connect_failed) << e.what();
    return e.what();
  }
}

TEST(Mqtt, AnUnreachableBrokerFailsTheClientWithConnectFailed) {
  Options o = client_at(free_port());
  o.connection.connect_timeout = 300ms;
  Communicator c(Protocol::mqtt, Purpose::client, o);
  const std::string why = connect_failure(c);
  EXPECT_NE(why.find("MQTT broker"), std::string::npos) << why;
}

TEST(Mqtt, ABrokerKilledMidTransferFailsBothSidesAndCorruptsNothing) {
  Broker broker;
  broker.start();
  auto s = std::make_unique<Communicator>(Protocol::mqtt, Purpose::server, server_at(broker.port()));
  auto c = std::make_unique<Communicator>(Protocol::mqtt, Purpose::client, client_at(broker.port()));
  constexpr int count = 400;
  std::vector<std::vector<std::byte>> data;
  for (int i = 0; i < count; ++i) data.push_back(pattern(48 * KiB + i, i));
  std::vector<SendFuture> futures;
  for (auto& d : data) futures.push_back(c->put(Stream::borrow(d)));
  // Some arrive, then the broker dies under the transfer.
  ASSERT_TRUE(eventually([&] { return s->statistics().messages_in >= 20; })) << "nothing arrived before the kill";
  broker.kill();

  // Every future ends: delivered, or failed.
  for (auto& f : futures) ASSERT_TRUE(f.wait_for(20s)) << "a put never ended after the broker died";
  int failed = 0;
  for (auto& f : futures) {
    try {
      f.get();
    } catch (const Error& e) {
      ++failed;
      EXPECT_EQ(e.value(), errc::transport) << "a lost broker is a transport failure: " << e.what();
    }
  }
  EXPECT_GT(failed, 0) << "the kill came too late to test anything";
  // The client's session failed loudly.
  try {
    while (c->get_for(20s)) {
    }
    FAIL() << "the client's get did not fail after the broker died";
  } catch (const Error& e) {
    EXPECT_EQ(e.value(), errc::transport) << e.what();
    EXPECT_NE(std::string(e.what()).find("broker"), std::string::npos) << e.what();
  }
  // The server's peer is gone; what it received is intact and in order.
  ASSERT_TRUE(eventually([&] { return s->peers().empty(); })) << "the server kept the client's session";
  int i = 0;
  while (auto m = s->try_get()) {
    if (m->truncated) break;  // the session ended inside a message: marked, never passed off as whole
    ASSERT_LT(i, count);
    EXPECT_EQ(m->data.to_bytes(), data[i]) << "message " << i << " is corrupted";
    ++i;
  }
  EXPECT_GE(i, 20);

  // The server reconnects: a new client works through the restarted broker.
  broker.start();
  auto again = std::make_unique<Communicator>(Protocol::mqtt, Purpose::client, client_at(broker.port()));
  again->put(text("after")).get();
  auto m = s->get_for(20s);
  ASSERT_TRUE(m) << "the server did not come back after the broker restarted";
  EXPECT_EQ(m->data.to_string(), "after");
  again->close();
  c->close_for(1s);
  s->close_for(10s);
}

// A net-queue client played by hand with paho-mqtt: hello and data pieces cut
// anywhere to c2s/<hex>, the server's answers read from s2c/<hex>. With
// "kill", the first client vanishes after its hello and data (its will tells
// the server) and a second one with the same id starts a fresh session.
const char* python_client = R"PY(
import sys, struct, time, uuid, os
import paho.mqtt.client as mqtt
port, hexid, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
me = uuid.UUID(hexid)
frame = lambda b: struct.pack(">Q", len(b)) + b
got = bytearray()
def on_message(c, u, m): got.extend(m.payload)
def client(will):
    c = mqtt.Client(client_id=hexid, clean_session=True, protocol=mqtt.MQTTv311)
    if will: c.will_set("c2s/" + hexid + "/gone", b"", qos=1)
    c.on_message = on_message
    c.connect("127.0.0.1", port, 60)
    c.loop_start()
    c.subscribe("s2c/" + hexid, qos=1)
    time.sleep(0.3)
    return c
def expect(want, what):
    end = time.time() + 20
    while len(got) < len(want) and time.time() < end: time.sleep(0.01)
    if bytes(got[:len(want)]) != want:
        print("FAIL", what, bytes(got).hex()); sys.exit(1)
    del got[:len(want)]
big = bytes(range(256)) * 400
stream = frame(me.bytes) + frame(b"hello") + frame(b"") + frame(big[:100000])
if mode == "kill":
    c = client(True)
    c.publish("c2s/" + hexid, stream[:30], qos=1).wait_for_publish()
    c.publish("c2s/" + hexid, stream[30:], qos=1).wait_for_publish()
    time.sleep(0.5)
    c._sock.close()  # vanishes: no DISCONNECT, the broker publishes the will
    c.loop_stop()
    time.sleep(1.0)
    got.clear()
    stream = frame(me.bytes) + frame(b"again")
c = client(mode == "kill")
pieces = [stream[i:i + 7000] for i in range(0, len(stream), 7000)]
for p in pieces: c.publish("c2s/" + hexid, p, qos=1).wait_for_publish()
server = bytes.fromhex(sys.argv[4])
expect(frame(server), "server hello")
expect(frame(b"world"), "world")
c.publish("c2s/" + hexid, frame(me.bytes), qos=1).wait_for_publish()
expect(frame(server), "server goodbye")
c.disconnect(); c.loop_stop()
print("OK")
)PY";

TEST(Mqtt, APythonNetQueueClientPlayedByHandTalksToTheServer) {
  Broker& broker = Broker::shared();
  auto s = std::make_unique<Communicator>(Protocol::mqtt, Purpose::server, server_at(broker.port()));
  const Id client = Id::random();
  std::string output;
  std::thread python([&] {
    run_python(python_client, std::to_string(broker.port()) + " " + client.hex() + " once " + s->id().hex(), output);
  });
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    auto m = s->get_for(20s);
    if (!m) break;
    EXPECT_EQ(m->peer, client);
    got.push_back(m->data.to_string());
  }
  ASSERT_EQ(got.size(), 3u) << "python said: " << output;
  EXPECT_EQ(got[0], "hello");
  EXPECT_EQ(got[1], "");
  std::string big;
  for (int i = 0; i < 400; ++i)
    for (int b = 0; b < 256; ++b) big.push_back(static_cast<char>(b));
  EXPECT_EQ(got[2], big.substr(0, 100000));
  s->put(text("world"), client).get();
  python.join();
  EXPECT_NE(output.find("OK"), std::string::npos) << output;
  EXPECT_TRUE(s->close_for(10s));
}

TEST(Mqtt, AClientKilledAndRestartedWithItsIdGetsAFreshSession) {
  Broker& broker = Broker::shared();
  auto s = std::make_unique<Communicator>(Protocol::mqtt, Purpose::server, server_at(broker.port()));
  const Id client = Id::random();
  std::string output;
  std::thread python([&] {
    run_python(python_client, std::to_string(broker.port()) + " " + client.hex() + " kill " + s->id().hex(), output);
  });
  // The first life's messages, then the second life's: its hello was not
  // taken for a goodbye of the first session.
  std::vector<std::string> got;
  for (int i = 0; i < 4; ++i) {
    auto m = s->get_for(20s);
    if (!m) break;
    got.push_back(m->data.to_string());
  }
  ASSERT_EQ(got.size(), 4u) << "python said: " << output;
  EXPECT_EQ(got[0], "hello");
  EXPECT_EQ(got[3], "again");
  ASSERT_TRUE(eventually([&] { return s->peers().size() == 1; })) << "the second session never started";
  s->put(text("world"), client).get();
  python.join();
  EXPECT_NE(output.find("OK"), std::string::npos) << output;
  EXPECT_TRUE(s->close_for(10s));
}

}  // namespace

namespace {

// For each TCP socket of this process connected to 127.0.0.1:`port`: whether
// it has TCP_NODELAY.
std::vector<bool> nodelay_of_sockets_to(std::uint16_t port) {
  std::vector<bool> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    sockaddr_in peer{};
    socklen_t length = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0 || peer.sin_family != AF_INET ||
        ntohs(peer.sin_port) != port)
      continue;
    int nodelay = 0;
    length = sizeof nodelay;
    ::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &length);
    found.push_back(nodelay != 0);
  }
  return found;
}

// Paho C 1.3.12 leaves Nagle's algorithm on; a small publish after a PUBACK
// then waits 40 ms for the broker's delayed ACK. netqueue turns it off on its
// connections to the broker.
TEST(Mqtt, ConnectionsToTheBrokerHaveNagleOff) {
  Broker& broker = Broker::shared();
  Communicator s(Protocol::mqtt, Purpose::server, server_at(broker.port()));
  Communicator c(Protocol::mqtt, Purpose::client, client_at(broker.port()));
  auto put = c.put(text("hello"));
  ASSERT_TRUE(s.get_for(10s)) << "the server got nothing";
  ASSERT_TRUE(settled(put).wait_for(10s));
  const auto sockets = nodelay_of_sockets_to(broker.port());
  EXPECT_EQ(sockets.size(), 2u) << "one connection to the broker per communicator";
  for (std::size_t i = 0; i < sockets.size(); ++i) EXPECT_TRUE(sockets[i]) << "connection " << i << " has Nagle on";
  EXPECT_TRUE(c.close_for(10s));
  EXPECT_TRUE(s.close_for(10s));
}

TEST(Mqtt, ATlsClientThatDoesNotTrustTheBrokerFailsWithConnectFailed) {
  Broker& broker = Broker::shared();
  Options o = nqtest::client_options(TransportCase{"mqtt_tls", Protocol::mqtt, true}, broker.tls_port());
  o.security.certificate = certs_dir() + "/other-ca.pem";  // not the CA that signed the broker's certificate
  o.connection.connect_timeout = 1s;
  Communicator c(Protocol::mqtt, Purpose::client, o);
  EXPECT_NE(connect_failure(c), "") << "a client connected to a broker it does not trust";
}

// A broker that requires client certificates (mosquitto's require_certificate):
// both ends present theirs with security.key and security.certificate, and
// take the broker's trust chain from security.trust.
TEST(Mqtt, ClientCertificatesAreShownToABrokerThatRequiresThem) {
  Broker& broker = Broker::shared();
  const TransportCase tls{"mqtt_tls", Protocol::mqtt, true};
  auto certified = [&](Options o) {
    o.security = {};
    o.security.trust = certs_dir() + "/ca.pem";
    o.security.certificate = certs_dir() + "/client.pem";
    o.security.key = certs_dir() + "/client.key";
    return o;
  };
  Options so = certified(MqttFixture().server_options_at(tls, {"127.0.0.1", broker.mutual_tls_port()}));
  Communicator server(Protocol::mqtt, Purpose::server, so);
  Communicator client(Protocol::mqtt, Purpose::client,
                      certified(nqtest::client_options(tls, broker.mutual_tls_port())));
  settled(client.put(text("certified"))).get();
  auto m = server.get_for(20s);
  ASSERT_TRUE(m) << "the server got nothing through the broker";
  EXPECT_EQ(m->data.to_string(), "certified");

  // Without a certificate the broker refuses the connection.
  Options bare = nqtest::client_options(tls, broker.mutual_tls_port());
  bare.connection.connect_timeout = 1s;
  bare.log = [](netqueue::LogLevel, std::string_view) {};
  Communicator refused(Protocol::mqtt, Purpose::client, bare);
  EXPECT_NE(connect_failure(refused), "") << "a client without a certificate got through a broker that requires one";
  refused.close_for(5s);
  client.close_for(10s);
  server.close_for(10s);
}

TEST(Mqtt, InvalidMqttOptionsAreRejectedAtConstruction) {
  Options o = nqtest::client_options(TransportCase{"mqtt", Protocol::mqtt}, 1883);
  o.mqtt.qos = 2;
  EXPECT_THROW(Communicator(Protocol::mqtt, Purpose::client, o), OptionError);
  o.mqtt.qos = 1;
  o.mqtt.window = 0;
  EXPECT_THROW(Communicator(Protocol::mqtt, Purpose::client, o), OptionError);
  o.mqtt.window = 32;
  o.mqtt.publish_size = 0;
  EXPECT_THROW(Communicator(Protocol::mqtt, Purpose::client, o), OptionError);
  o.mqtt.publish_size = 64 * KiB;
  o.netloc.port = 0;
  EXPECT_THROW(Communicator(Protocol::mqtt, Purpose::server, o), OptionError);
}

}  // namespace
