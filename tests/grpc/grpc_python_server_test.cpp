// net-queue's Python gRPC server, played by hand with Debian's python3-grpcio
// against a netqueue gRPC client with grpc.poll set. The script does on the
// wire what net-queue 2.6's server does (see ../shared/wire/README.md): a
// generic handler for /grpc/comm with raw-bytes messages; at the start of
// each call it sends everything queued for that client (sessions keyed by
// the call's peer address) in pieces of at most 16 MiB, then reads the client's messages to the
// half-close, then ends the call with status OK; what it queues meanwhile
// leaves only on a later call. It answers the client's hello with its own,
// echoes every data frame, and answers the goodbye with its goodbye.
#include <gtest/gtest.h>

#include <netqueue/netqueue.hpp>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/helpers.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;

const char* python_server = R"PY(
import struct, sys, threading, time, uuid
from concurrent import futures
import grpc

me = uuid.UUID(sys.argv[1]).bytes
frame = lambda b: struct.pack(">Q", len(b)) + b
piece_size = 16 * 1024 * 1024
lock = threading.Lock()
sessions = {}  # peer address -> state
finished = threading.Event()

class Session:
    def __init__(self):
        self.inbox = bytearray()  # the client's stream, not yet cut into frames
        self.outbox = bytearray() # queued for the client's next call
        self.client = None
        self.frames = 0
        self.calls = 0
        self.bye = False

    def take(self, piece):
        self.inbox.extend(piece)
        while len(self.inbox) >= 8:
            n = struct.unpack(">Q", self.inbox[:8])[0]
            if len(self.inbox) < 8 + n:
                break
            body = bytes(self.inbox[8:8 + n])
            del self.inbox[:8 + n]
            if self.client is None:
                if n != 16:
                    print("FAIL the first frame is not a hello: %d bytes" % n, flush=True)
                    sys.exit(1)
                self.client = body
                self.outbox.extend(frame(me))
            elif body == self.client:
                self.bye = True
                self.outbox.extend(frame(me))
            else:
                self.frames += 1
                self.outbox.extend(frame(body))

def comm(requests, context):
    with lock:
        s = sessions.setdefault(context.peer(), Session())
        s.calls += 1
        out, s.outbox = bytes(s.outbox), bytearray()
        said_bye = s.bye
    for at in range(0, len(out), piece_size):  # net-queue's transport_size
        yield out[at:at + piece_size]
    for piece in requests:
        with lock:
            s.take(piece)
    if said_bye and out:
        print("OK %d frames echoed over %d calls" % (s.frames, s.calls), flush=True)
        finished.set()

handler = grpc.method_handlers_generic_handler("grpc", {"comm": grpc.stream_stream_rpc_method_handler(comm)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                     options=[("grpc.max_receive_message_length", 16 * 1024 * 1024 + 1024)])
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()
print("PORT %d" % port, flush=True)
if not finished.wait(40):
    print("FAIL no goodbye within 40 s", flush=True)
    server.stop(0)
    sys.exit(1)
time.sleep(0.5)  # the client's last call ends
server.stop(1)
)PY";

// Starts the script and learns its port; clients of it poll or not.
class GrpcPythonServer : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(python.wait_for_output("\n", 20s)) << "the Python server said nothing:\n" << python.output();
    const std::string out = python.output();
    const auto at = out.find("PORT ");
    ASSERT_NE(at, std::string::npos) << "the Python server did not say its port:\n" << out;
    port = static_cast<std::uint16_t>(std::stoi(out.substr(at + 5)));
  }
  Options client_options(bool poll) {
    Options o = nqtest::client_options(TransportCase{"grpc", Protocol::grpc}, port);
    o.grpc.poll = poll;
    return o;
  }

  const Id server = Id::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  Child python{{"/usr/bin/python3", "-c", python_server, server.str()}};
  std::uint16_t port = 0;
};

TEST_F(GrpcPythonServer, APollingClientTalksToNetQueuesServerAndClosesCleanly) {
  Communicator client(Protocol::grpc, Purpose::client, client_options(true));
  const std::vector<std::string> sent = {"hello", "", "0123456789abcdef", std::string(100000, 'x'),
                                         std::string(20 * 1024 * 1024, 'y')};
  std::vector<SendFuture> futures;
  for (const auto& s : sent) futures.push_back(client.put(text(s)));
  for (std::size_t i = 0; i < sent.size(); ++i) {
    auto m = client.get_for(20s);
    ASSERT_TRUE(m) << "echo " << i << " never came back:\n" << python.output();
    EXPECT_EQ(m->peer, server);
    EXPECT_EQ(m->data.size(), sent[i].size()) << "echo " << i;
    EXPECT_TRUE(m->data.to_string() == sent[i]) << "echo " << i << " differs";
  }
  for (auto& f : futures) EXPECT_NO_THROW(settled(f).get());
  EXPECT_EQ(client.peers(), std::vector<Id>{server});
  EXPECT_TRUE(client.close_for(20s)) << "the goodbyes were not exchanged:\n" << python.output();

  const auto status = python.wait(30s);
  ASSERT_TRUE(status) << "the Python server did not finish:\n" << python.output();
  EXPECT_EQ(*status, 0) << python.output();
  EXPECT_NE(python.output().find("OK 5 frames echoed"), std::string::npos) << python.output();
}

TEST_F(GrpcPythonServer, APushingClientGetsNoAnswerAndCloseForSaysSo) {
  // A pushing client (the default) keeps its call open: such a server never
  // answers it (documented: set grpc.poll). close_for still ends in time.
  Communicator client(Protocol::grpc, Purpose::client, client_options(false));
  client.put(text("hello"));
  EXPECT_FALSE(client.get_for(1s)) << "a pushing client got an answer from a server that answers only at call start";
  EXPECT_FALSE(client.close_for(2s)) << "close_for claimed a clean end without the server's goodbye";
}

}  // namespace
