// A net-queue server played by hand with Debian's python3-paho-mqtt against a
// netqueue MQTT client (mqtt.await_server = false: Python servers announce
// nothing). The Python side does what net-queue's server does on the wire:
// subscribes c2s/+ at QoS 0, learns the client from the topic, reads its
// hello, answers with its own hello and data on s2c/<hex> (cut anywhere),
// checks the client's data frames and answers its goodbye with its own.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>

#include "support/child.hpp"
#include "support/helpers.hpp"
#include "support/mqtt_fixture.hpp"

#include <cstdio>
#include <fstream>

namespace {

using namespace netqueue;
using namespace nqtest;

const char* python_server = R"PY(
import struct, sys, threading, time, uuid
import paho.mqtt.client as mqtt

port, server_hex, client_hex = int(sys.argv[1]), sys.argv[2], sys.argv[3]
me, peer = uuid.UUID(server_hex), uuid.UUID(client_hex)
frame = lambda b: struct.pack(">Q", len(b)) + b
deadline = time.time() + 40

def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)

cond = threading.Condition()
got = bytearray()   # the stream on c2s/<client hex>, concatenated
sizes = []          # the client's publish payload sizes
strays = []         # publishes on any other c2s/+ topic
subscribed = threading.Event()

def on_message(c, u, m):
    with cond:
        if m.topic == "c2s/" + client_hex:
            got.extend(m.payload)
            sizes.append(len(m.payload))
        else:
            strays.append(m.topic)
        cond.notify_all()

def on_subscribe(c, u, mid, granted):
    subscribed.set()

c = mqtt.Client(client_id=server_hex, clean_session=True, protocol=mqtt.MQTTv311)
c.on_message = on_message
c.on_subscribe = on_subscribe
c.connect("127.0.0.1", port, 60)
c.loop_start()
c.subscribe("c2s/+", qos=0)   # as net-queue's server
if not subscribed.wait(10):
    fail("the broker did not answer SUBSCRIBE")
print("READY", flush=True)

def next_frame(what):
    with cond:
        while True:
            if len(got) >= 8:
                n = struct.unpack(">Q", bytes(got[:8]))[0]
                if n > (1 << 24):
                    fail("%s: a frame header announces %d bytes" % (what, n))
                if len(got) >= 8 + n:
                    data = bytes(got[8:8 + n])
                    del got[:8 + n]
                    return data
            left = deadline - time.time()
            if left <= 0:
                fail("timed out waiting for %s (%d bytes buffered)" % (what, len(got)))
            cond.wait(left)

def publish(payload):
    info = c.publish("s2c/" + client_hex, payload, qos=0)
    info.wait_for_publish()
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        fail("publish failed: rc %d" % info.rc)

hello = next_frame("the client's hello")
if hello != peer.bytes:
    fail("the client's hello is %s, not its id %s" % (hello.hex(), peer.hex))

# Our hello and two messages, in three publishes cut inside frames.
out = frame(me.bytes) + frame(b"world") + frame(b"direct")
for piece in (out[:5], out[5:30], out[30:]):
    publish(piece)

big1 = (bytes(range(256)) * 400)[:100000]
big2 = bytes((i * 31 + 7) % 251 for i in range(300000))
want = [b"hello", b"", b"0123456789abcdef", big1, big2]
for i, w in enumerate(want):
    d = next_frame("the client's message %d" % i)
    if d != w:
        at = next((k for k in range(min(len(d), len(w))) if d[k] != w[k]), min(len(d), len(w)))
        fail("message %d: %d bytes, want %d, first difference at %d" % (i, len(d), len(w), at))

bye = next_frame("the client's goodbye")
if bye != peer.bytes:
    fail("after the data came a %d-byte frame %s, not the client's goodbye" % (len(bye), bye.hex()))
publish(frame(me.bytes))   # our goodbye

time.sleep(0.3)
with cond:
    if got:
        fail("%d bytes after the client's goodbye" % len(got))
    if strays:
        fail("publishes on other topics: %s" % strays)
    print("client publishes:", len(sizes), "largest", max(sizes), "bytes", flush=True)
c.disconnect()
c.loop_stop()
print("OK", flush=True)
)PY";

// The script in a temporary file, removed at the end.
class ScriptFile {
 public:
  explicit ScriptFile(const char* text) {
    char templ[] = "/tmp/netqueue-mqtt-server-XXXXXX";
    const int fd = ::mkstemp(templ);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    path_ = templ;
    std::ofstream(path_) << text;
  }
  ~ScriptFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string big2() {
  std::string s(300000, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 31 + 7) % 251);
  return s;
}

TEST(Mqtt, APythonNetQueueServerPlayedByHandServesTheClient) {
  Broker broker;  // its own: no retained presence of another test's server
  broker.start();
  const Id server = Id::random();
  const Id client = Id::random();
  ScriptFile script(python_server);
  Child python({"/usr/bin/python3", script.path(), std::to_string(broker.port()), server.hex(), client.hex()});
  ASSERT_TRUE(python.wait_for_output("READY", 20s)) << "the Python server did not subscribe; it said:\n"
                                                    << python.output();

  Options o = nqtest::client_options(TransportCase{"mqtt", Protocol::mqtt}, broker.port());
  o.id = client;
  o.mqtt.await_server = false;  // a Python server does not announce itself
  Communicator c(Protocol::mqtt, Purpose::client, o);

  std::string big1;
  for (int i = 0; i < 400; ++i)
    for (int b = 0; b < 256; ++b) big1.push_back(static_cast<char>(b));
  big1.resize(100000);
  const std::string big = big2();
  std::vector<SendFuture> futures;
  futures.push_back(c.put(text("hello")));
  futures.push_back(c.put(text("")));
  futures.push_back(c.put(text("0123456789abcdef")));
  futures.push_back(c.put(Stream::borrow(big1)));
  futures.push_back(c.put(Stream::borrow(big)));
  for (std::size_t i = 0; i < futures.size(); ++i) {
    ASSERT_TRUE(futures[i].wait_for(20s)) << "put " << i << " never resolved; python said:\n" << python.output();
    EXPECT_NO_THROW(futures[i].get()) << "put " << i;
  }

  auto world = c.get_for(20s);
  ASSERT_TRUE(world) << "the client got nothing from the Python server; it said:\n" << python.output();
  EXPECT_EQ(world->peer, server);
  EXPECT_EQ(world->data.to_string(), "world");
  auto direct = c.get_for(20s);
  ASSERT_TRUE(direct) << "the client got only one message; python said:\n" << python.output();
  EXPECT_EQ(direct->peer, server);
  EXPECT_EQ(direct->data.to_string(), "direct");
  EXPECT_EQ(c.peers(), std::vector<Id>{server});

  // Goodbye: the Python server answers it, so the close is graceful.
  EXPECT_TRUE(c.close_for(20s)) << "the client's close was not graceful; python said:\n" << python.output();
  const auto status = python.wait(30s);
  ASSERT_TRUE(status) << "the Python server did not end; it said:\n" << python.output();
  EXPECT_EQ(*status, 0) << python.output();
  EXPECT_NE(python.output().find("OK"), std::string::npos) << python.output();
  if (std::getenv("NETQUEUE_TEST_VERBOSE")) std::fprintf(stderr, "%s", python.output().c_str());
}

}  // namespace
