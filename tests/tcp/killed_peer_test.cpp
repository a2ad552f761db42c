// Peers killed for real, and crowds of connections that never say hello
// (SPEC "Bad input, faults and limits"), over TCP on 127.0.0.1.
//
// KilledPeer: a client, then a server, is SIGKILLed while messages flow. The
// killed peer is this test program in another role: a child process started
// with NQTEST_KILLED_PEER_ROLE set and a --gtest_filter naming the test that
// spawned it, whose body plays the role instead of testing.
//
// SilentConnections: 200 connections that say nothing (or half a frame
// header) are all closed after connection.hello_timeout, and a real client
// that talks meanwhile never notices them.
#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <netqueue/netqueue.hpp>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "support/child.hpp"
#include "support/helpers.hpp"
#include "tcp/raw_socket.hpp"
#include "tcp/tcp_support.hpp"

namespace {

using namespace netqueue;
using namespace nqtest;
using Clock = std::chrono::steady_clock;

constexpr const char* role_variable = "NQTEST_KILLED_PEER_ROLE";
constexpr std::uint64_t hello_bytes = 8 + Id::size;  // a hello frame on the wire

// ---- the stream: checkable messages of any size, nothing held per message ----
//
// Message i is made of blocks of 1 MiB (the last one shorter). Each block
// starts with a 16-byte tag (i and the block's number, little-endian) and goes
// on with bytes of one shared noise buffer. A lost, repeated, reordered or
// shifted range shows as a wrong tag or misaligned noise, and a put borrows the
// noise: a 256 MiB message costs the sender 16 bytes per MiB.
constexpr std::size_t block = 1 * MiB;
constexpr std::size_t tag_size = 16;

const std::vector<std::byte>& noise() {
  static const std::vector<std::byte> bytes = pattern(block - tag_size, 4242);
  return bytes;
}

std::array<std::byte, tag_size> tag(std::uint64_t message, std::uint64_t block_number) {
  std::array<std::byte, tag_size> t{};
  for (std::size_t k = 0; k < 8; ++k) {
    t[k] = static_cast<std::byte>(message >> (8 * k));
    t[8 + k] = static_cast<std::byte>(block_number >> (8 * k));
  }
  return t;
}

// Sizes in a cycle: small ones (merged by the sender), some at and just over
// 64 KiB (the parts variant's message_size), some over 1 MiB.
constexpr std::array<std::size_t, 11> cycle = {
    24, 1000, 64 * KiB, 64 * KiB + 1, 1 * MiB + MiB / 2 + 3, 100, 300000, 3 * MiB + 17, 70 * KiB + 5, 5000, 2 * MiB + 1,
};
// Message `giant` of the killed client's stream is 256 MiB: the client is
// killed inside it, which it cannot have finished sending by then.
constexpr std::uint64_t giant = cycle.size();
constexpr std::size_t giant_size = 256 * MiB;

using SizeOf = std::size_t (*)(std::uint64_t);
std::size_t client_message_size(std::uint64_t i) { return i == giant ? giant_size : cycle[i % cycle.size()]; }
std::size_t echo_message_size(std::uint64_t i) { return cycle[i % cycle.size()]; }

Stream message(std::uint64_t i, std::size_t size) {
  Stream s;
  for (std::uint64_t j = 0; j * block < size; ++j) {
    const std::size_t length = std::min(block, size - j * block);
    const auto t = tag(i, j);
    s.write(Chunk::copy_of(std::span<const std::byte>(t).first(std::min(length, tag_size))));
    if (length > tag_size) s.write(Chunk::borrow(std::span(noise()).first(length - tag_size)));
  }
  return s;
}

// Where `data`, taken as the bytes of message i from `offset` on, first
// differs from what was sent (relative to `offset`); npos when it does not.
std::size_t mismatch(std::uint64_t i, std::uint64_t offset, const Stream& data) {
  std::uint64_t p = offset;
  for (const Chunk& c : data) {
    const auto bytes = c.bytes();
    std::size_t at = 0;
    while (at < bytes.size()) {
      const std::uint64_t j = p / block, q = p % block;
      std::span<const std::byte> want;
      std::array<std::byte, tag_size> t{};
      if (q < tag_size) {
        t = tag(i, j);
        want = std::span<const std::byte>(t).subspan(q);
      } else {
        want = std::span(noise()).subspan(q - tag_size);
      }
      const std::size_t n = std::min(want.size(), bytes.size() - at);
      const auto got = bytes.subspan(at, n);
      if (std::memcmp(got.data(), want.data(), n) != 0) return p - offset + first_difference(got, want.first(n));
      at += n;
      p += n;
    }
  }
  return std::string::npos;
}

// Checks one peer's messages as get() hands them out: in order, intact, in
// parts exactly when larger than message_size, and a truncated one (a prefix
// of what was sent) only as the very last.
class StreamCheck {
 public:
  StreamCheck(SizeOf size_of, std::uint64_t message_size) : size_of_(size_of), message_size_(message_size) {}

  // Empty when `m` is what had to come next; else what is wrong with it.
  std::string operator()(const Message& m) {
    const std::string which = "message " + std::to_string(index_);
    if (truncated_) return "a message came after the truncated " + which;
    const std::uint64_t size = size_of_(index_);
    const std::uint64_t offset = m.part ? m.part->offset : 0;
    if (m.part) {
      // A message that fits message_size has a part only when cut short.
      if (size <= message_size_ && !(m.truncated && offset == 0))
        return which + " (" + std::to_string(size) + " bytes) came in parts";
      if (m.part->total != size)
        return "a part of " + which + " announces " + std::to_string(m.part->total) + " bytes, not " +
               std::to_string(size);
      if (offset != offset_)
        return "a part of " + which + " starts at " + std::to_string(offset) + ", not " + std::to_string(offset_);
      if (m.data.size() > message_size_)
        return "a part of " + which + " is " + std::to_string(m.data.size()) + " bytes, over message_size";
    } else {
      if (offset_ != 0) return "a whole message came inside the parts of " + which;
      if (size > message_size_ && !m.truncated) return which + " (" + std::to_string(size) + " bytes) came whole";
      if (!m.truncated && m.data.size() != size)
        return which + " is " + std::to_string(m.data.size()) + " bytes, not " + std::to_string(size);
    }
    if (offset + m.data.size() > size) return which + " runs past its " + std::to_string(size) + " bytes";
    if (const auto at = mismatch(index_, offset, m.data); at != std::string::npos)
      return which + " differs from what was sent at byte " + std::to_string(offset + at);
    offset_ += m.data.size();
    if (m.truncated) {
      if (m.part && !m.part->last) return "a truncated part of " + which + " is not marked last";
      truncated_ = true;
      return {};
    }
    if (m.part && m.part->last != (offset_ == size))
      return "a part of " + which + " ending at " + std::to_string(offset_) + " is " + (m.part->last ? "" : "not ") +
             "marked last";
    if (offset_ == size) {
      ++index_;
      offset_ = 0;
    }
    return {};
  }

  std::uint64_t complete() const { return index_; }           // messages received whole (or all their parts)
  bool truncated() const { return truncated_; }               // a truncated message (or part) came
  std::uint64_t received_of_next() const { return offset_; }  // bytes of message complete() that came in parts

 private:
  SizeOf size_of_;
  std::uint64_t message_size_;
  std::uint64_t index_ = 0;
  std::uint64_t offset_ = 0;
  bool truncated_ = false;
};

// Where a stream of `bytes` (what a server read from the client: its hello,
// then frames of the messages size_of(0), size_of(1), ...) ends.
struct Landing {
  std::uint64_t message = 0;     // the first message not read whole
  bool boundary = false;         // the stream ended between two messages
  bool header_complete = false;  // else it ended inside that message's 8-byte length header
  std::uint64_t payload = 0;     // bytes of that message's payload read
};

Landing landing(std::uint64_t bytes, SizeOf size_of) {
  Landing at;
  bytes -= std::min(bytes, hello_bytes);
  for (;; ++at.message) {
    const std::uint64_t frame = 8 + size_of(at.message);
    if (bytes >= frame) {
      bytes -= frame;
      continue;
    }
    at.boundary = bytes == 0;
    at.header_complete = bytes >= 8;
    at.payload = at.header_complete ? bytes - 8 : 0;
    return at;
  }
}

std::string describe(const Landing& at) {
  if (at.boundary) return "between messages " + std::to_string(at.message - 1) + " and " + std::to_string(at.message);
  if (!at.header_complete) return "inside the length header of message " + std::to_string(at.message);
  return "inside message " + std::to_string(at.message) + ", after " + std::to_string(at.payload) + " bytes of it";
}

// Bytes on the wire before message i: the hello and the frames before it.
std::uint64_t stream_offset(std::uint64_t i, SizeOf size_of) {
  std::uint64_t offset = hello_bytes;
  for (std::uint64_t k = 0; k < i; ++k) offset += 8 + size_of(k);
  return offset;
}

// The put must have failed with ClosedError naming `peer`.
void expect_closed(const SendFuture& f, const Id& peer, const std::string& what) {
  ASSERT_TRUE(f.wait_for(ms(10000))) << what << " was still pending 10 s after its peer was gone";
  try {
    f.get();
    ADD_FAILURE() << what << " succeeded";
  } catch (const ClosedError& e) {
    EXPECT_EQ(e.peer(), peer) << what << ": " << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << " failed with something other than ClosedError: " << e.what();
  }
}

// A second client, in this process, that sends the server a cycle of
// messages of the same kind as the killed client's (in parts where its are),
// which the server takes intact, then gets an answer.
class OtherClient {
 public:
  OtherClient(Communicator& server, Tap& tap, std::uint64_t message_size)
      : client(Protocol::tcp, Purpose::client, client_options(plain_tcp(), server.local_port())),
        server_(server),
        tap_(tap),
        check_(echo_message_size, message_size) {}

  void round_trip() {
    const std::uint64_t until = sent_ + cycle.size();
    std::vector<SendFuture> futures;
    for (; sent_ < until; ++sent_) futures.push_back(client.put(message(sent_, echo_message_size(sent_))));
    // Taken first: a cycle (7 MB) is more than the server's receive bound,
    // so the last puts resolve only once the server takes messages (how much
    // the sockets buffer in between depends on the kernel's memory).
    while (check_.complete() < until) {
      auto m = tap_.next_from(client.id(), ms(20000));
      ASSERT_TRUE(m) << "the server did not get message " << check_.complete() << " of the other client";
      ASSERT_EQ(check_(*m), "") << "(the other client's)";
    }
    for (const SendFuture& f : futures) ASSERT_NO_THROW(settled(f).get()) << "a put of the other client failed";
    const std::string answer = "answer " + std::to_string(until);
    ASSERT_NO_THROW(settled(server_.put(text(answer), client.id())).get()) << "the server could not answer";
    auto back = client.get_for(ms(20000));
    ASSERT_TRUE(back) << "the other client got no answer";
    EXPECT_EQ(text_of(*back), answer);
    EXPECT_EQ(back->peer, server_.id());
  }

  Communicator client;

 private:
  Communicator& server_;
  Tap& tap_;
  StreamCheck check_;
  std::uint64_t sent_ = 0;
};

// ---- roles played by a child process ----

// A client that puts the stream 0, 1, 2, ... until it is killed, and takes
// nothing the server sends it. What it receives comes in parts of 64 KiB,
// which count against its receive bound as they come, so it stops reading
// after 4 MiB (a whole message counts only once complete: it would read all
// of a 64 MiB one first).
void streaming_client(std::uint16_t port, const Id& id) {
  Options o = client_options(plain_tcp(), port);
  o.id = id;
  o.serialization.message_size = 64 * KiB;
  Communicator c(Protocol::tcp, Purpose::client, o);
  std::deque<SendFuture> window;  // what waits to be sent stays bounded
  for (std::uint64_t i = 0;; ++i) {
    window.push_back(c.put(message(i, client_message_size(i))));
    if (i == 0) {
      settled(window.front()).get();
      std::printf("NQKILL SENDING\n");
      std::fflush(stdout);
    }
    while (window.size() > 16) {
      settled(window.front(), std::chrono::seconds(120)).get();
      window.pop_front();
    }
  }
}

// A server that sends every message back to its sender until it is killed.
void echo_server() {
  Communicator s(Protocol::tcp, Purpose::server, server_options(plain_tcp()));
  std::printf("NQKILL READY port=%u id=%s\n", static_cast<unsigned>(s.local_port()), s.id().str().c_str());
  std::fflush(stdout);
  std::deque<std::pair<SendFuture, std::size_t>> echoes;
  std::size_t pending = 0;
  for (;;) {
    Message m = s.get();
    const std::size_t n = m.data.size();
    echoes.emplace_back(s.put(std::move(m.data), m.peer), n);
    pending += n;
    // Past 8 MiB of echoes in flight the server stops taking messages, and
    // its receive bound holds the client back.
    while (pending > 8 * MiB) {
      settled(echoes.front().first, std::chrono::seconds(120)).get();
      pending -= echoes.front().second;
      echoes.pop_front();
    }
  }
}

class KilledPeer : public testing::Test {
 protected:
  // Plays the role this process was started for when it is a child; true then.
  static bool play_role() {
    const char* role = std::getenv(role_variable);
    if (!role) return false;
    const std::string r = role;
    const std::string client = "streaming_client:";
    if (r == "echo_server") {
      echo_server();
    } else if (r.rfind(client, 0) == 0) {
      const std::string rest = r.substr(client.size());
      const auto colon = rest.find(':');
      streaming_client(static_cast<std::uint16_t>(std::stoi(rest.substr(0, colon))), Id::parse(rest.substr(colon + 1)));
    } else {
      ADD_FAILURE() << "unknown role " << r;
    }
    return true;
  }

  // This test program, running only the current test, in `role`.
  static Child spawn(const std::string& role) {
    const auto* test = testing::UnitTest::GetInstance()->current_test_info();
    return Child({"/proc/self/exe", std::string("--gtest_filter=") + test->test_suite_name() + "." + test->name()},
                 {std::string(role_variable) + "=" + role});
  }

  void client_killed_inside_a_message(std::uint64_t message_size);
};

// A client (a child process) streams messages to a server in this process,
// next to another client, and is killed inside a 256 MiB message.
void KilledPeer::client_killed_inside_a_message(std::uint64_t message_size) {
  LogCapture log;
  PeerEvents events;
  Options so = server_options(plain_tcp());
  so.serialization.message_size = message_size;
  so.log = log.hook();
  events.install(so);
  Communicator server(Protocol::tcp, Purpose::server, so);
  Tap tap(server);
  OtherClient other(server, tap, message_size);
  ASSERT_NO_FATAL_FAILURE(other.round_trip());
  // From here until the client is gone the other client is idle: every byte the
  // server reads is the killed client's, so the server's byte count says
  // exactly where in the client's stream it stopped.
  const std::uint64_t base = server.statistics().stream_bytes_in;
  auto client_bytes = [&] { return server.statistics().stream_bytes_in - base; };

  const Id victim = Id::random();
  Child child = spawn("streaming_client:" + std::to_string(server.local_port()) + ":" + victim.str());
  ASSERT_TRUE(events.wait_joined(victim, ms(20000))) << "the client process did not connect:\n" << child.output();
  // Puts the client never takes: 64 MiB is more than its receive bound
  // (4 MiB) and the kernel's buffers (32 + 4 MiB at most, as tcp_rmem and
  // tcp_wmem are set here) hold, so they are pending when it dies.
  auto huge = server.put(Stream::adopt(std::vector<std::byte>(64 * MiB)), victim);
  auto behind = server.put(text("behind"), victim);

  // Take the client's messages as they come, up to 4 MiB into the giant one.
  StreamCheck check(client_message_size, message_size);
  const std::uint64_t kill_at = stream_offset(giant, client_message_size) + 8 + 4 * MiB;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (check.complete() < giant || client_bytes() < kill_at) {
    ASSERT_LT(Clock::now(), deadline) << "the client's stream stalled: " << check.complete() << " messages taken, "
                                      << client_bytes() << " bytes read\n"
                                      << child.output();
    if (auto m = tap.next_from(victim, ms(5))) {
      ASSERT_EQ(check(*m), "");
    }
  }
  EXPECT_FALSE(huge.ready()) << "64 MiB were handed over to a client that reads nothing";
  ASSERT_EQ(::kill(child.pid(), SIGKILL), 0);
  EXPECT_EQ(child.wait(ms(10000)), std::optional<int>(-1)) << "the client process had ended before it was killed:\n"
                                                           << child.output();

  // Until the server notices, it must be read from: its reads from the
  // client may be paused by the receive bound, and the end comes behind them.
  deadline = Clock::now() + std::chrono::seconds(20);
  while (events.left_count(victim) == 0) {
    ASSERT_LT(Clock::now(), deadline) << "the server did not notice the killed client within 20 s\n" << log.dump();
    if (auto m = tap.next_from(victim, ms(5))) {
      ASSERT_EQ(check(*m), "");
    }
  }
  for (const Message& m : tap.all_from(victim)) ASSERT_EQ(check(m), "");

  // Everything the server read whole was delivered, intact and in order, and
  // nothing more; what came of the message it was inside is delivered marked
  // truncated, whole or in parts alike.
  const Landing at = landing(client_bytes(), client_message_size);
  const Statistics stats = server.statistics();
  const std::string cut = check.truncated() ? ", then " + std::to_string(check.received_of_next()) +
                                                  " bytes of the next, the last part marked truncated"
                                            : "";
  std::printf("killed client: the server read %llu bytes of its stream, ending %s; %llu messages delivered whole%s\n",
              static_cast<unsigned long long>(client_bytes()), describe(at).c_str(),
              static_cast<unsigned long long>(check.complete()), cut.c_str());
  EXPECT_EQ(check.complete(), at.message) << "the server read " << client_bytes() << " bytes, ending " << describe(at);
  if (at.boundary) {
    EXPECT_FALSE(check.truncated());
    EXPECT_EQ(stats.truncated, 0u);
  } else {
    EXPECT_EQ(stats.truncated, 1u) << "the session ended " << describe(at);
    EXPECT_EQ(check.truncated(), at.header_complete) << "the session ended " << describe(at);
    if (at.header_complete) {
      EXPECT_EQ(check.received_of_next(), at.payload) << "what came of the cut message is not all there";
    }
  }

  // The client is gone: not listed, its puts failed naming it, and so does a new one.
  EXPECT_EQ(server.peers(), std::vector<Id>{other.client.id()}) << "the killed client is still listed";
  ASSERT_NO_FATAL_FAILURE(expect_closed(huge, victim, "the 64 MiB put to the killed client"));
  ASSERT_NO_FATAL_FAILURE(expect_closed(behind, victim, "the put queued behind it"));
  ASSERT_NO_FATAL_FAILURE(expect_closed(server.put(text("late"), victim), victim, "a put after it left"));
  // The departure is logged right after the peer-left hook: wait for it.
  EXPECT_TRUE(log.wait_for(LogLevel::warning, {victim.str(), "without a goodbye"}, ms(5000))) << log.dump();

  // The other client noticed nothing, and goes on.
  ASSERT_NO_FATAL_FAILURE(other.round_trip());
  ASSERT_NO_FATAL_FAILURE(other.round_trip());
  EXPECT_EQ(events.left_count(other.client.id()), 0u);
  EXPECT_TRUE(other.client.close_for(std::chrono::seconds(10)));
  EXPECT_TRUE(server.close_for(std::chrono::seconds(10))) << log.dump();
}

// ---- a client killed while it sends ------------------------------------------

// Whole messages (message_size 1 GiB): what came of the cut message is
// delivered as one message marked truncated.
TEST_F(KilledPeer, AClientKilledInsideAMessageLeavesItsWholeMessagesIntactAndTheOthersServed) {
  if (play_role()) return;
  client_killed_inside_a_message(GiB);
}

// Parts of 64 KiB: the parts of the cut message that came are delivered, the
// last one marked truncated.
TEST_F(KilledPeer, AClientKilledInsideAMessageInPartsEndsWithATruncatedLastPart) {
  if (play_role()) return;
  client_killed_inside_a_message(64 * KiB);
}

// ---- a server killed while it echoes -----------------------------------------

TEST_F(KilledPeer, AServerKilledMidTransferFailsPendingPutsAndGetNamingIt) {
  if (play_role()) return;
  Child child = spawn("echo_server");
  ASSERT_TRUE(child.wait_for_output("NQKILL READY", ms(20000))) << "the server process did not start:\n"
                                                                << child.output();
  const std::string out = child.output();
  const auto ready = out.find("NQKILL READY port=");
  const auto port = static_cast<std::uint16_t>(std::stoi(out.substr(ready + 18)));
  const Id server_id = Id::parse(out.substr(out.find("id=", ready) + 3, 36));

  LogCapture log;
  Options co = client_options(plain_tcp(), port);
  co.log = log.hook();
  Communicator client(Protocol::tcp, Purpose::client, co);
  StreamCheck check(echo_message_size, GiB);
  std::vector<SendFuture> futures;
  std::uint64_t put_bytes = 0, echoed_bytes = 0;
  // Puts run 256 MiB ahead of the echoes, more than everything between this
  // client's queue and the server's get() and back can hold (socket buffers
  // of at most 32 MiB, receive bounds of 4 MiB, 8 MiB of echoes in flight):
  // some are always waiting to be handed over, and still are when the server dies.
  auto top_up = [&] {
    while (put_bytes - echoed_bytes < 256 * MiB) {
      const std::size_t size = echo_message_size(futures.size());
      futures.push_back(client.put(message(futures.size(), size)));
      put_bytes += size;
    }
  };
  while (check.complete() < 40) {
    top_up();
    auto m = client.get_for(ms(20000));
    ASSERT_TRUE(m) << "echo " << check.complete() << " never came\n" << child.output();
    ASSERT_EQ(check(*m), "");
    EXPECT_EQ(m->peer, server_id);
    echoed_bytes += m->data.size();
  }
  top_up();
  const auto pending_at_kill = std::count_if(futures.begin(), futures.end(), [](auto& f) { return !f.ready(); });
  ASSERT_EQ(::kill(child.pid(), SIGKILL), 0);
  const auto killed = Clock::now();
  EXPECT_EQ(child.wait(ms(10000)), std::optional<int>(-1)) << "the server process had ended before it was killed:\n"
                                                           << child.output();

  // get() hands out the echoes that had come, intact and in order, then
  // throws ClosedError naming the server.
  const std::uint64_t echoes_before_kill = check.complete();
  for (bool closed = false; !closed;) {
    ASSERT_LT(Clock::now() - killed, std::chrono::seconds(30)) << "get() kept returning messages after the kill";
    try {
      auto m = client.get_for(ms(20000));
      ASSERT_TRUE(m) << "get() neither returned nor failed within 20 s after the server was killed\n" << log.dump();
      ASSERT_EQ(check(*m), "");
    } catch (const ClosedError& e) {
      closed = true;
      EXPECT_EQ(e.peer(), server_id) << e.what();
    } catch (const std::exception& e) {
      FAIL() << "get() failed with something other than ClosedError: " << e.what();
    }
  }
  // An echo cut short by the kill comes last, marked truncated (the check
  // above holds it to a prefix of what was sent), and is counted.
  EXPECT_EQ(client.statistics().truncated, check.truncated() ? 1u : 0u);

  // Every put ends: handed over, or failed with ClosedError naming the
  // server. A put is handed over once its bytes and all before them are, so
  // the handed-over ones come first, and every echoed one is among them.
  std::size_t handed_over = 0, failed = 0;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    ASSERT_TRUE(futures[i].wait_for(ms(10000))) << "put " << i << " was still pending 10 s after the server died";
    try {
      futures[i].get();
      ++handed_over;
      EXPECT_EQ(failed, 0u) << "put " << i << " was handed over after an earlier one failed";
    } catch (const ClosedError& e) {
      ++failed;
      EXPECT_EQ(e.peer(), server_id) << "put " << i << ": " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "put " << i << " failed with something other than ClosedError: " << e.what();
    }
  }
  EXPECT_GT(failed, 0u) << "no put failed, although " << pending_at_kill << " were pending when the server died";
  EXPECT_GE(handed_over, check.complete()) << "a put whose echo came back failed";
  EXPECT_TRUE(client.peers().empty()) << "the killed server is still listed";
  ASSERT_NO_FATAL_FAILURE(expect_closed(client.put(text("late")), server_id, "a put after the server died"));

  const auto closing = Clock::now();
  const bool graceful = client.close_for(std::chrono::seconds(5));
  EXPECT_FALSE(graceful) << "a client whose server was killed closed gracefully";
  const auto close_took = Clock::now() - closing;
  EXPECT_LT(close_took, std::chrono::seconds(6)) << "close_for(5 s) overran its deadline";
  std::printf(
      "killed server: %llu echoes before the kill, %llu after; of %zu puts (%lld pending at the kill), %zu handed "
      "over, %zu failed; client truncated %llu; close_for %s in %lld ms\n",
      static_cast<unsigned long long>(echoes_before_kill),
      static_cast<unsigned long long>(check.complete() - echoes_before_kill), futures.size(),
      static_cast<long long>(pending_at_kill), handed_over, failed,
      static_cast<unsigned long long>(client.statistics().truncated), graceful ? "true" : "false",
      static_cast<long long>(std::chrono::duration_cast<ms>(close_took).count()));
}

// ---- 200 connections that never say hello -----------------------------------

class SilentConnections : public testing::Test {
 protected:
  // 200 connections send `first` (nothing, or a piece of a frame) and then
  // nothing more, while a real client exchanges messages with the server.
  void run(const Bytes& first);
};

void SilentConnections::run(const Bytes& first) {
  constexpr std::size_t count = 200;
  constexpr ms hello_timeout(500);
  LogCapture log, client_log;
  const Id real = Id::random();
  auto strangers = std::make_shared<std::atomic<int>>(0);  // peers that joined, other than the real client
  auto real_left = std::make_shared<std::atomic<int>>(0);
  Options so = server_options(plain_tcp());
  so.connection.hello_timeout = hello_timeout;
  so.log = log.hook();
  so.on_peer_joined = [real, strangers](const Id& id) { *strangers += id != real; };
  so.on_peer_left = [real, real_left](const Id& id) { *real_left += id == real; };
  Communicator server(Protocol::tcp, Purpose::server, so);

  struct Silent {
    RawSocket socket;
    std::uint16_t port = 0;        // its end: the server names the connection "127.0.0.1:<port>"
    Clock::time_point connecting;  // the server cannot accept it before this
    std::optional<Clock::time_point> closed;
    std::string trouble;
  };
  const auto start = Clock::now();
  std::vector<Silent> silent(count);
  for (Silent& s : silent) {
    s.connecting = Clock::now();
    s.socket = RawSocket::connect(server.local_port());
    s.port = s.socket.local_port();
    if (!first.empty()) {
      ASSERT_TRUE(s.socket.write_all(first, ms(5000)));
    }
  }

  Options co = client_options(plain_tcp(), server.local_port());
  co.id = real;
  co.log = client_log.hook();
  Communicator client(Protocol::tcp, Purpose::client, co);
  std::uint64_t rounds = 0;
  std::vector<std::string> listed;  // what peers() listed besides the real client
  auto round_trip = [&] {
    const std::string n = std::to_string(rounds);
    settled(client.put(text("ping " + n))).get();
    auto m = server.get_for(ms(10000));
    ASSERT_TRUE(m) << "the server did not get ping " << n;
    EXPECT_EQ(m->peer, real);
    EXPECT_EQ(text_of(*m), "ping " + n);
    EXPECT_FALSE(m->truncated);
    settled(server.put(text("pong " + n), real)).get();
    auto back = client.get_for(ms(10000));
    ASSERT_TRUE(back) << "the client did not get pong " << n;
    EXPECT_EQ(text_of(*back), "pong " + n);
    ++rounds;
    for (const Id& p : server.peers())
      if (p != real) listed.push_back(p.str());
  };

  // Round trips, and between them up to 5 ms of waiting for the server to
  // close silent connections, until it closed all of them.
  std::size_t open = count;
  while (open > 0) {
    ASSERT_LT(Clock::now() - start, std::chrono::seconds(10))
        << open << " of the " << count << " silent connections were still open 10 s after the first connected\n"
        << log.dump();
    ASSERT_NO_FATAL_FAILURE(round_trip());
    std::vector<pollfd> fds;
    std::vector<Silent*> which;
    for (Silent& s : silent) {
      if (s.closed) continue;
      fds.push_back({s.socket.fd(), POLLIN, 0});
      which.push_back(&s);
    }
    if (::poll(fds.data(), fds.size(), 5) <= 0) continue;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (!fds[k].revents) continue;
      Silent& s = *which[k];
      Bytes got;
      const auto r = s.socket.read_some(got, 64, ms(0));
      if (r == RawSocket::Read::data && !got.empty()) s.trouble += "the server sent " + hex_dump(got) + "; ";
      if (r == RawSocket::Read::error)
        s.trouble += "reset (" + std::string(std::strerror(s.socket.last_errno())) + "); ";
      if (r == RawSocket::Read::eof || r == RawSocket::Read::error) {
        s.closed = Clock::now();
        --open;
      }
    }
  }
  const auto all_closed = Clock::now() - start;
  // The real client goes on after them.
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(round_trip());

  // Each was closed with a FIN (not a reset), told nothing, not before the
  // hello deadline, with a warning naming it and the reason.
  std::size_t unnamed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const Silent& s = silent[i];
    EXPECT_TRUE(s.trouble.empty()) << "silent connection " << i << ": " << s.trouble;
    EXPECT_GE(*s.closed - s.connecting, hello_timeout)
        << "silent connection " << i << " was closed before its hello deadline";
    const std::string where = "127.0.0.1:" + std::to_string(s.port) + ":";
    unnamed += !log.contains(LogLevel::warning, {where, "said no hello within connection.hello_timeout"});
  }
  EXPECT_EQ(unnamed, 0u) << "closures without a warning naming the connection\n" << log.dump();

  // None of them was ever a peer, nothing of them was received or counted.
  EXPECT_TRUE(listed.empty()) << "peers() listed a connection that never said hello: " << listed.front();
  EXPECT_EQ(strangers->load(), 0) << "on_peer_joined ran for a connection that never said hello";
  EXPECT_EQ(server.peers(), std::vector<Id>{real});
  const Statistics stats = server.statistics();
  EXPECT_EQ(stats.messages_in, rounds) << "messages_in counts something besides the real client's pings";
  EXPECT_EQ(stats.messages_out, rounds);
  EXPECT_EQ(stats.truncated, 0u) << "a connection cut before its hello counts as a truncated message";
  EXPECT_EQ(stats.peers, 1u);
  EXPECT_EQ(real_left->load(), 0) << "the real client was disconnected";
  EXPECT_EQ(client_log.count(LogLevel::warning), 0u) << client_log.dump();
  std::printf(
      "%zu silent connections (%zu bytes each) closed within %lld ms of the first connecting; %llu round trips "
      "meanwhile\n",
      count, first.size(), static_cast<long long>(std::chrono::duration_cast<ms>(all_closed).count()),
      static_cast<unsigned long long>(rounds));
  EXPECT_TRUE(client.close_for(std::chrono::seconds(10))) << client_log.dump();
  EXPECT_TRUE(server.close_for(std::chrono::seconds(10))) << log.dump();
}

TEST_F(SilentConnections, AreClosedAfterTheHelloTimeoutWhileARealClientIsServed) { run({}); }

// Three bytes: half of the hello's length header. The server cannot refuse it
// on its header (there is none yet); the hello deadline ends it, and a
// connection that never said hello has no message to count as truncated.
TEST_F(SilentConnections, HalfAFrameHeaderIsClosedTooAndCountsNothingTruncated) {
  run(slice(frame_header(Id::size), 0, 3));
}

}  // namespace
