// libFuzzer target: a real server Core fed any bytes as the stream of one
// link, through a scripted transport (the Pipe contract, core/transport.hpp),
// as tests/unit/piece_replay_test.cpp drives it. It must never crash; nothing
// reaches get() unless the stream began with a 16-byte hello, and then only
// the frames the wire format gives, from the peer that hello names, up to its
// goodbye; close_for(0s) returns.
//
// Input: 3 bytes of settings, then the byte stream.
//   byte 0  bits 0-1: 0 received_piece() of borrowed memory (scribbled over
//                     and freed after the call), 1 received_piece() of owned
//                     chunks, 2 and 3 received() into receive_buffer()
//           bit 2: the link ends after the input, before the close (bit 3:
//                  resumable, else lost); otherwise close_for ends it
//           bit 4: what the server sends is taken and acknowledged as it goes
//           bits 5-7: the largest piece (1 byte to 70000 bytes)
//   byte 1  message_size: 0xff: 1 MiB (as the default 1 GiB, but cheap under
//           ASan, see frame_decoder_fuzz.cpp); below 32: 1 to 32 (a hello that
//           does not fit); else 18 to 4050
//   byte 2  seed of the piece sizes
//
// Statistics are checked against what get() saw.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "fuzz_support.hpp"
#include "support/scripted_link.hpp"
#include "netqueue/error.hpp"

namespace {

using namespace std::chrono_literals;
using netqueue::Chunk;
using netqueue::Id;
using netqueue::Message;
using netqueue::Options;
using netqueue::Stream;
using netqueue::detail::Core;
using netqueue::detail::Hub;
using netqueue::detail::LinkEnd;
using netqueue::detail::Pipe;
using nqfuzz::Bytes;
using nqfuzz::Model;
using Clock = std::chrono::steady_clock;

constexpr std::size_t settings_size = 3;
const Id server_id = Id::parse("00112233-4455-6677-8899-aabbccddeeff");

// The transport's side: one link, driven by the fuzzing thread (its strand).
struct Harness {
  Hub* hub = nullptr;
  std::shared_ptr<nqtest::ScriptedLink> link = std::make_shared<nqtest::ScriptedLink>();
  std::shared_ptr<Pipe> pipe;

  // Exactly once per link; the Pipe is dropped then.
  void detach(LinkEnd end, const std::string& reason) {
    if (auto p = std::move(pipe)) p->detached(end, reason, {});
    pipe.reset();
  }
};

class FuzzTransport final : public netqueue::detail::Transport {
 public:
  explicit FuzzTransport(Harness& harness) : harness_(harness) {}
  void start() override {}
  std::uint16_t port() const override { return 0; }
  void stop_accepting() override {}
  // Closes the link still open: its Pipe::detached follows.
  void stop() override { harness_.detach(LinkEnd::lost, "transport stopped"); }

 private:
  Harness& harness_;
};

// What get() may hand out for this stream, checked message by message.
class Expected {
 public:
  Expected(Bytes stream, std::uint64_t message_size) : stream_(stream), model_(stream, message_size), order_(message_size) {
    const auto& frames = model_.frames;
    // The first frame is the hello: 16 bytes, whole, not the nil id.
    hello_ = !frames.empty() && !frames[0].part && frames[0].size == Id::size;
    if (!hello_) return;
    peer_ = Id::from_bytes(stream.subspan(frames[0].at, Id::size));
    if (peer_.is_nil()) {  // names no peer: refused
      hello_ = false;
      return;
    }
    for (std::size_t i = 1; i < frames.size(); ++i) {
      const Model::Frame& f = frames[i];
      if (!f.part && f.size == Id::size && Id::from_bytes(stream.subspan(f.at, Id::size)) == peer_) {
        goodbye_ = true;  // the peer sends nothing more; anything after it ends the session
        break;
      }
      data_.push_back(&f);
    }
  }

  void got(const Message& m) {
    NQFUZZ_CHECK(hello_, "a message reached get() from a stream that did not begin with a 16-byte hello",
                 m.data.size(), stream_.size());
    NQFUZZ_CHECK(m.peer == peer_, "a message reached get() from another peer than the hello named", m.data.size());
    const std::size_t i = delivered_++;
    bytes_ += m.data.size();
    if (m.truncated) ++truncated_;
    NQFUZZ_CHECK(bytes_ <= stream_.size(), "more payload reached get() than bytes were received", bytes_,
                 stream_.size());
    order_.check(m.part, m.data.size(), m.truncated);
    const Model::Frame* want = nullptr;
    if (i < data_.size()) {
      want = data_[i];
    } else {
      NQFUZZ_CHECK(i == data_.size(), "more messages reached get() than the stream holds", i, data_.size());
      NQFUZZ_CHECK(!goodbye_, "a message reached get() after the peer's goodbye", i, m.data.size());
      NQFUZZ_CHECK(model_.tail.has_value(), "more messages reached get() than the stream holds", i, data_.size());
      want = &*model_.tail;
      NQFUZZ_CHECK(m.truncated, "the end of a cut-short stream reached get() unmarked", m.data.size());
    }
    NQFUZZ_CHECK(m.truncated == want->truncated, "a message is marked truncated wrongly", i, m.truncated);
    NQFUZZ_CHECK(m.part.has_value() == want->part.has_value() &&
                     (!m.part || (m.part->offset == want->part->offset && m.part->total == want->part->total &&
                                  m.part->last == want->part->last)),
                 "a message's part is not the wire's", i, m.part ? m.part->offset : ~0ull);
    NQFUZZ_CHECK(nqfuzz::same_bytes(m.data, stream_, want->at, want->size), "a message's bytes are not the wire's", i,
                 want->at);
  }

  // After the close: every data frame the stream completed was delivered, and
  // a message cut short got its truncated last part.
  void closed(bool ended_early) const {
    if (!ended_early) {
      NQFUZZ_CHECK(delivered_ >= data_.size(), "a complete message never reached get()", delivered_, data_.size());
    }
    if (hello_ && !goodbye_ && model_.tail && !ended_early) {
      NQFUZZ_CHECK(delivered_ == data_.size() + 1, "a message cut short got no truncated last part",
                   delivered_, data_.size());
    }
    if (!ended_early) order_.end();
  }

  std::size_t delivered() const { return delivered_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t truncated() const { return truncated_; }

 private:
  Bytes stream_;
  Model model_;
  nqfuzz::PartOrder order_;
  bool hello_ = false, goodbye_ = false;
  Id peer_;
  std::vector<const Model::Frame*> data_;
  std::size_t delivered_ = 0;
  std::uint64_t bytes_ = 0, truncated_ = 0;
};

std::uint64_t message_size_of(std::uint8_t b) {
  if (b == 0xff) return std::uint64_t{1} << 20;
  if (b < 32) return b + 16u;  // 16 at least: options refuse less (a hello is 16 bytes)
  return (b - 31u) * 18u;
}

// Everything queued in get() now. (get_until with a deadline already passed
// still costs a timed wait, a system call: only asked when something is queued.)
void drain(Core& core, Expected& expected, bool closed) {
  while (closed || core.statistics().queued > 0) {
    std::optional<Message> m;
    try {
      m = core.get_until(Clock::now());
    } catch (const netqueue::Error&) {
      NQFUZZ_CHECK(closed, "get() threw before the close");
      return;
    }
    if (!m) return;
    expected.got(*m);
  }
}

// What the server sends: its hello, then (after the peer's) its goodbye.
void take_all(Pipe& pipe, std::vector<std::byte>& sent) {
  for (Stream piece = pipe.take_piece(); !piece.empty(); piece = pipe.take_piece()) {
    const auto bytes = piece.to_bytes();
    sent.insert(sent.end(), bytes.begin(), bytes.end());
    pipe.acknowledged(bytes.size());
  }
  std::vector<std::byte> allowed(2 * (netqueue::detail::frame_header_size + Id::size));
  for (std::size_t at = 0; at < allowed.size(); at += netqueue::detail::frame_header_size + Id::size) {
    netqueue::detail::encode_frame_header(Id::size, allowed.data() + at);
    std::memcpy(allowed.data() + at + netqueue::detail::frame_header_size, server_id.as_bytes().data(), Id::size);
  }
  NQFUZZ_CHECK(sent.size() <= allowed.size() && (sent.empty() || std::memcmp(sent.data(), allowed.data(), sent.size()) == 0),
               "the server sent something else than its hello and goodbye", sent.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < settings_size) return 0;
  const unsigned flags = data[0];
  const std::uint64_t message_size = message_size_of(data[1]);
  nqfuzz::Cutter cut(data[2] | flags << 8, nqfuzz::max_piece(flags >> 5));
  const Bytes stream(reinterpret_cast<const std::byte*>(data) + settings_size, size - settings_size);
  Expected expected(stream, message_size);

  Harness h;
  Options o;
  o.id = server_id;
  o.log = [](netqueue::LogLevel, std::string_view) {};
  o.serialization.message_size = message_size;
  auto core = std::make_unique<Core>(netqueue::Protocol::inproc, netqueue::Purpose::server, std::move(o),
                                     [&h](Hub& hub) {
                                       h.hub = &hub;
                                       return std::make_unique<FuzzTransport>(h);
                                     });
  h.pipe = h.hub->attach(h.link, {});
  NQFUZZ_CHECK(h.pipe != nullptr, "the core refused the link");
  std::vector<std::byte> sent;

  // The transport's loop: receive while the session wants more.
  bool ended_early = false;
  for (std::size_t at = 0; at < stream.size();) {
    if (h.link->closed) break;
    if (!h.pipe->receiving()) {
      drain(*core, expected, false);  // the application consumes; the bound lets go
      if (!h.pipe->receiving()) {
        ended_early = true;  // a real transport waits for wake_receive; here the input ends
        break;
      }
    }
    const std::size_t n = std::min(cut.piece(), stream.size() - at);
    switch (flags & 3) {
      case 0: {
        auto memory = std::make_unique<std::byte[]>(n);
        std::memcpy(memory.get(), stream.data() + at, n);
        h.pipe->received_piece(Chunk::borrow(std::span<const std::byte>(memory.get(), n)));
        std::memset(memory.get(), 0xEE, n);
        break;
      }
      case 1:
        h.pipe->received_piece(Chunk::adopt(std::vector<std::byte>(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                                                   stream.begin() + static_cast<std::ptrdiff_t>(at + n))));
        break;
      default:
        for (std::size_t done = 0; done < n && !h.link->closed;) {
          const std::span<std::byte> buffer = h.pipe->receive_buffer();
          NQFUZZ_CHECK(!buffer.empty(), "receive_buffer() is empty", at + done);
          const std::size_t k = std::min(buffer.size(), n - done);
          std::memcpy(buffer.data(), stream.data() + at + done, k);
          h.pipe->received(k);
          done += k;
        }
        break;
    }
    at += n;
    if (flags & 0x10 && !h.link->closed) take_all(*h.pipe, sent);
    drain(*core, expected, false);
  }
  if (h.link->closed) {
    h.detach(LinkEnd::lost, "closed");  // as a transport does once close() went through
  } else if (flags & 4) {
    h.detach(flags & 8 ? LinkEnd::resumable : LinkEnd::lost, "the input ended");
  }
  drain(*core, expected, false);
  core->close_for(0s);
  drain(*core, expected, true);
  expected.closed(ended_early);

  {
    const auto stats = core->statistics();
    NQFUZZ_CHECK(stats.messages_in == expected.delivered(), "statistics: messages_in is not what get() handed out",
                 stats.messages_in, expected.delivered());
    NQFUZZ_CHECK(stats.bytes_in == expected.bytes(), "statistics: bytes_in is not what get() handed out",
                 stats.bytes_in, expected.bytes());
    // truncated counts the messages get() saw marked truncated (one per session at most).
    NQFUZZ_CHECK(stats.truncated == expected.truncated(), "statistics: truncated is not what get() saw marked",
                 stats.truncated, expected.truncated());
    NQFUZZ_CHECK(stats.stream_bytes_in <= stream.size(), "statistics: more stream bytes in than received",
                 stats.stream_bytes_in, stream.size());
  }
  core.reset();
  return 0;
}
