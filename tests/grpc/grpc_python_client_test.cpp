// net-queue's Python gRPC client, played by hand with Debian's python3-grpcio
// against a netqueue gRPC server. The script does on the wire what net-queue
// 2.6 does (see ../shared/wire/README.md): one connection; a call per
// exchange (open, send every queued piece, half-close, read until the server
// ends the call); empty calls to poll, backing off from 1/1024 s to 0.5 s;
// raw-bytes messages on /grpc/comm (identity serializers), hand-built frames
// (8-byte big-endian length + payload). The server must keep one session
// across all those calls.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>

#include <string>

#include "support/child.hpp"
#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

const char* python_client = R"PY(
import struct, sys, time, uuid
import grpc

port, server_hex, client_hex, secure = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
me, peer = uuid.UUID(client_hex), uuid.UUID(server_hex)
frame = lambda b: struct.pack(">Q", len(b)) + b
deadline = time.time() + 40

def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)

if secure != "-":
    creds = grpc.ssl_channel_credentials(root_certificates=open(secure, "rb").read())
    channel = grpc.secure_channel("127.0.0.1:%d" % port, creds)
else:
    channel = grpc.insecure_channel("127.0.0.1:%d" % port)
comm = channel.stream_stream("/grpc/comm", request_serializer=None, response_deserializer=None)

got = bytearray()   # the server's stream, over all calls
calls = 0

def call(pieces):
    """One exchange: send the pieces, half-close, read to the end of the call."""
    global calls
    calls += 1
    try:
        for answer in comm(iter(pieces), timeout=10):
            got.extend(answer)
    except grpc.RpcError as e:
        fail("call %d: %s %s" % (calls, e.code(), e.details()))

def frames():
    out, at = [], 0
    while at + 8 <= len(got):
        n = struct.unpack(">Q", got[at:at + 8])[0]
        if at + 8 + n > len(got):
            break
        out.append(bytes(got[at + 8:at + 8 + n]))
        at += 8 + n
    return out

def poll_until(count):
    """Empty calls, as net-queue's client polls, until `count` frames came."""
    wait = 1 / 1024
    while len(frames()) < count:
        if time.time() > deadline:
            fail("timed out polling: %d frames so far, %d wanted" % (len(frames()), count))
        call([])
        if len(frames()) >= count:
            break
        time.sleep(wait)
        wait = min(wait * 2, 0.5)

big = bytes(i % 256 for i in range(100000))
call([frame(me.bytes) + frame(b"hello")])           # hello and data in one message
call([frame(b"")])                                   # an empty message
call([frame(b"0123456789abcdef")])                   # 16 bytes that are not an id
whole = frame(big)
call([whole[:32768], whole[32768:65536], whole[65536:]])  # a frame cut across messages
call([])                                             # a poll with nothing to say
print("SENT", flush=True)

poll_until(3)                                        # hello, world, direct
f = frames()
if f[0] != peer.bytes: fail("the first frame is not the server's hello: %r" % f[0][:32])
if f[1] != b"world": fail("expected world, got %r" % f[1][:32])
if f[2] != b"direct": fail("expected direct, got %r" % f[2][:32])

call([frame(me.bytes)])                              # goodbye
poll_until(4)
f = frames()
if f[3] != peer.bytes: fail("the server's last frame is not its goodbye: %r" % f[3][:32])
if len(f) != 4: fail("%d frames after the goodbye" % len(f))
expected = frame(peer.bytes) + frame(b"world") + frame(b"direct") + frame(peer.bytes)
if bytes(got) != expected: fail("the server's stream differs from net-queue's")
channel.close()
print("OK after %d calls" % calls, flush=True)
)PY";

void run_python_client(bool tls) {
  const TransportCase c{tls ? "grpc_tls" : "grpc", Protocol::grpc, tls};
  Options o = server_options(c);
  o.connection.resume_timeout = 10s;  // the polling client's calls come far quicker than that
  Communicator s(Protocol::grpc, Purpose::server, o);
  const Id client = Id::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  Child python({"/usr/bin/python3", "-c", python_client, std::to_string(s.local_port()), s.id().str(), client.str(),
                tls ? certs_dir() + "/ca.pem" : "-"});

  const std::vector<std::string> expected = {"hello", "", "0123456789abcdef"};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto m = s.get_for(20s);
    ASSERT_TRUE(m) << "message " << i << " from the Python client never arrived:\n" << python.output();
    EXPECT_EQ(m->peer, client);
    EXPECT_EQ(m->data.to_string(), expected[i]);
  }
  auto m = s.get_for(20s);
  ASSERT_TRUE(m) << "the 100000-byte message never arrived:\n" << python.output();
  const auto bytes = m->data.to_bytes();
  ASSERT_EQ(bytes.size(), 100000u);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    ASSERT_EQ(static_cast<unsigned>(bytes[i]), i % 256) << "byte " << i << " of the large message";
  EXPECT_EQ(s.peers(), std::vector<Id>{client}) << "one session across the client's calls";

  ASSERT_TRUE(python.wait_for_output("SENT", 20s)) << python.output();
  settled(s.put(text("world"))).get();  // to everyone: the polling client
  settled(s.put(text("direct"), client)).get();
  const auto status = python.wait(45s);
  ASSERT_TRUE(status) << "the Python client did not finish:\n" << python.output();
  EXPECT_EQ(*status, 0) << python.output();
  EXPECT_NE(python.output().find("OK after"), std::string::npos) << python.output();
  std::printf("python: %s", python.output().c_str());
  // Its goodbye ended the session: nothing is left to wait for.
  EXPECT_TRUE(eventually([&] { return s.peers().empty(); }, 10s)) << "the session did not end after the goodbyes";
  EXPECT_FALSE(s.try_get());
  EXPECT_TRUE(s.close_for(10s));
}

TEST(GrpcPython, NetQueuesPollingClientKeepsOneSessionAcrossItsCalls) { run_python_client(false); }

TEST(GrpcPython, NetQueuesPollingClientOverTls) { run_python_client(true); }

}  // namespace
