// libFuzzer target: the FrameDecoder fed any bytes, cut anywhere, received
// either way (commit() into buffer() as a socket does, feed() of owned pieces
// as MQTT, gRPC and inproc do), with a small message_size so that parts
// happen. Every frame is checked against a reference model of the wire format
// as it comes out, and the same input cut differently must give the same
// frames.
//
// Input: 4 bytes of settings, then the byte stream.
//   bytes 0-1  message_size: 1 + (big-endian value % 4096); byte 0 = 0xff:
//              1 MiB (the default 1 GiB takes the same paths, but under ASan
//              every lying length header would cost a 128 MiB shadow write:
//              a receive buffer of the announced size is allocated, if lazily)
//   byte 2     bits 0-1: 0 commit() into buffer(), 1 feed() of owned chunks,
//                        2 and 3: one or the other, piece by piece
//              bits 2-3: arena of 256 KiB (the default), 16 KiB, 4 KiB, 512 B
//              bit 4: a small buffer pool (receive buffers reused sooner)
//              bits 5-7: the largest piece (1 byte to 70000 bytes)
//   byte 3     seed of the piece sizes and of which frames are held to the end
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "stream/frame.hpp"

namespace {

using netqueue::Chunk;
using netqueue::Part;
using netqueue::Stream;
using netqueue::detail::DecodedFrame;
using netqueue::detail::FrameDecoder;
using nqfuzz::Bytes;
using nqfuzz::Model;

constexpr std::size_t settings_size = 4;
// Inputs up to this size are also decoded whole (commit) and byte by byte (feed).
constexpr std::size_t compare_cuts_up_to = 1024;

enum class Style { commit, feed, mixed };

struct Settings {
  FrameDecoder::Limits limits;
  Style style = Style::commit;
  std::size_t max_piece = 1;
  std::uint32_t seed = 0;
};

Settings settings_of(const std::uint8_t* data) {
  Settings s;
  if (data[0] == 0xff) {
    s.limits.message_size = std::uint64_t{1} << 20;
  } else {
    s.limits.message_size = 1 + ((unsigned{data[0]} << 8 | data[1]) % 4096);
  }
  const unsigned flags = data[2];
  s.style = (flags & 3) == 0 ? Style::commit : (flags & 3) == 1 ? Style::feed : Style::mixed;
  static constexpr std::size_t arenas[] = {256 * 1024, 16 * 1024, 4 * 1024, 512};
  s.limits.arena_size = arenas[(flags >> 2) & 3];
  if (flags & 0x10) {
    s.limits.pool_buffer = 8 * 1024;
    s.limits.pool_cached = 32 * 1024;
  }
  s.max_piece = nqfuzz::max_piece(flags >> 5);
  s.seed = data[3] | flags << 8;
  return s;
}

// One frame as it came out, enough to compare two runs.
struct Record {
  std::size_t size = 0;
  std::optional<Part> part;
  bool truncated = false;
  std::uint64_t digest = 0;
  bool operator==(const Record& o) const {
    return size == o.size && truncated == o.truncated && digest == o.digest && part.has_value() == o.part.has_value() &&
           (!part || (part->offset == o.part->offset && part->total == o.part->total && part->last == o.part->last));
  }
};

struct Outcome {
  std::vector<Record> records;
  bool inside = false;  // what finish() returned
};

bool same_part(const std::optional<Part>& a, const std::optional<Part>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->offset == b->offset && a->total == b->total && a->last == b->last);
}

class Run {
 public:
  Run(Bytes stream, const Model& model, const Settings& s, std::size_t max_piece, Style style)
      : stream_(stream), model_(model), decoder_(s.limits), order_(model.message_size), keep_(s.seed ^ 0x5bd1e995u, 2) {
    nqfuzz::Cutter cut(s.seed, max_piece);
    std::size_t at = 0;
    while (at < stream_.size()) {
      const std::size_t n = std::min(cut.piece(), stream_.size() - at);
      const bool commit = style == Style::commit || (style == Style::mixed && (keep_.next() & 4));
      if (commit) {
        receive_by_commit(at, n);
      } else {
        receive_by_feed(at, n);
      }
      at += n;
    }
    NQFUZZ_CHECK(outcome_.records.size() == model_.frames.size(), "a complete frame was not delivered",
                 outcome_.records.size(), model_.frames.size());
    outcome_.inside = decoder_.finish(out_);
    NQFUZZ_CHECK(outcome_.inside == model_.inside, "finish() is wrong about ending inside a frame", outcome_.inside,
                 model_.inside);
    NQFUZZ_CHECK(out_.size() <= 1, "finish() delivered more than one frame", out_.size());
    if (model_.tail) {
      NQFUZZ_CHECK(out_.size() == 1, "a message cut short got no truncated last part", model_.tail->part->offset,
                   model_.tail->part->total);
    }
    if (!model_.tail) NQFUZZ_CHECK(out_.empty(), "finish() delivered a frame where none was begun");
    if (!out_.empty()) take(*model_.tail);
    order_.end();
    // Frames held until now still hold their bytes (no receive buffer was
    // reused under them).
    for (const auto& [i, data] : held_) {
      const Model::Frame& want = i < model_.frames.size() ? model_.frames[i] : *model_.tail;
      NQFUZZ_CHECK(nqfuzz::same_bytes(data, stream_, want.at, want.size),
                   "a delivered frame's bytes changed later (receive memory reused under it)", i, want.at);
    }
  }

  const Outcome& outcome() const { return outcome_; }

 private:
  void receive_by_commit(std::size_t at, std::size_t n) {
    while (n > 0) {
      std::span<std::byte> buffer = decoder_.buffer();
      NQFUZZ_CHECK(!buffer.empty(), "buffer() is empty", at);
      const std::size_t k = std::min(n, buffer.size());
      std::memcpy(buffer.data(), stream_.data() + at, k);
      at += k;
      n -= k;
      decoder_.commit(k, out_);
      after(at);
    }
  }

  void receive_by_feed(std::size_t at, std::size_t n) {
    // Owned memory that dies with the last chunk viewing it: a decoder that
    // kept a plain pointer into it would read freed memory (ASan).
    std::vector<std::byte> piece(stream_.begin() + static_cast<std::ptrdiff_t>(at),
                                 stream_.begin() + static_cast<std::ptrdiff_t>(at + n));
    decoder_.feed(Chunk::adopt(std::move(piece)), out_);
    after(at + n);
  }

  // The first `fed` bytes of the stream went in: the frames that came out are
  // those the model says are complete by now, and the decoder knows where it
  // stands.
  void after(std::size_t fed) {
    for (DecodedFrame& f : out_) {
      const std::size_t i = outcome_.records.size();
      NQFUZZ_CHECK(i < model_.frames.size(), "a frame came out that the stream does not complete", i, fed);
      const Model::Frame& want = model_.frames[i];
      NQFUZZ_CHECK(want.at + want.size <= fed, "a frame came out before its bytes were received", want.at + want.size,
                   fed);
      take_frame(f, want);
    }
    out_.clear();
    const Model::Position where = model_.at(fed);
    NQFUZZ_CHECK(decoder_.at_boundary() == where.boundary, "at_boundary() is wrong", fed, where.boundary);
    const auto pending = decoder_.pending_length();
    NQFUZZ_CHECK(pending.has_value() == where.length.has_value() && (!pending || *pending == *where.length),
                 "pending_length() is not the announced length of the frame being received", fed,
                 pending.value_or(~0ull));
    NQFUZZ_CHECK(decoder_.expected() == where.expected, "expected() is not the rest of the current part", fed,
                 decoder_.expected());
  }

  void take(const Model::Frame& want) {
    for (DecodedFrame& f : out_) take_frame(f, want);
    out_.clear();
  }

  void take_frame(DecodedFrame& f, const Model::Frame& want) {
    const std::size_t i = outcome_.records.size();
    delivered_ += f.data.size();
    NQFUZZ_CHECK(delivered_ <= stream_.size(), "more payload delivered than bytes received", delivered_,
                 stream_.size());
    order_.check(f.part, f.data.size(), f.truncated);
    NQFUZZ_CHECK(f.truncated == want.truncated, "a frame is marked truncated wrongly", i, f.truncated);
    NQFUZZ_CHECK(same_part(f.part, want.part), "a frame's part is wrong", i, f.part ? f.part->offset : ~0ull);
    NQFUZZ_CHECK(f.data.size() == want.size, "a frame's size is not the announced size (or what came of it)",
                 f.data.size(), want.size);
    NQFUZZ_CHECK(nqfuzz::same_bytes(f.data, stream_, want.at, want.size), "a frame's bytes are not the stream's", i,
                 want.at);
    outcome_.records.push_back(Record{f.data.size(), f.part, f.truncated, nqfuzz::digest(f.data)});
    // Hold some frames to the end, drop the others at once (their receive
    // memory may then be reused, as when an application consumes them).
    if (keep_.next() & 1) held_.emplace_back(i, std::move(f.data));
  }

  Bytes stream_;
  const Model& model_;
  FrameDecoder decoder_;
  nqfuzz::PartOrder order_;
  nqfuzz::Cutter keep_;
  std::vector<DecodedFrame> out_;
  std::vector<std::pair<std::size_t, Stream>> held_;
  std::uint64_t delivered_ = 0;
  Outcome outcome_;
};

bool same_outcome(const Outcome& a, const Outcome& b) { return a.inside == b.inside && a.records == b.records; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < settings_size) return 0;
  const Settings s = settings_of(data);
  const Bytes stream(reinterpret_cast<const std::byte*>(data) + settings_size, size - settings_size);
  const Model model(stream, s.limits.message_size);
  const Run run(stream, model, s, s.max_piece, s.style);
  if (stream.size() <= compare_cuts_up_to) {
    // The same stream cut differently gives the same frames and bytes.
    constexpr std::size_t whole = SIZE_MAX;
    // (Two more decoders, not four: each costs a receive arena, which ASan maps afresh.)
    for (const auto& [max_piece, style] : {std::pair{whole, Style::commit}, std::pair{std::size_t{1}, Style::feed}}) {
      const Run other(stream, model, s, max_piece, style);
      NQFUZZ_CHECK(same_outcome(run.outcome(), other.outcome()), "the same stream cut differently gave other frames",
                   max_piece, static_cast<std::uint64_t>(style));
    }
  }
  return 0;
}
