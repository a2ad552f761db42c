// Unit tests of the wire frame and FrameDecoder (src/stream/frame.hpp).
#include "stream/frame.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <type_traits>
#include <vector>

#include "support/helpers.hpp"

namespace {

using netqueue::Chunk;
using netqueue::Stream;
using netqueue::detail::decode_frame_header;
using netqueue::detail::DecodedFrame;
using netqueue::detail::encode_frame_header;
using netqueue::detail::frame_header_size;
using netqueue::detail::FrameDecoder;
using Bytes = std::vector<std::byte>;

static_assert(frame_header_size == 8);
static_assert(std::is_nothrow_move_constructible_v<DecodedFrame>);

Bytes header(std::uint64_t length) {
  Bytes h(frame_header_size);
  encode_frame_header(length, h.data());
  return h;
}

// The framed byte stream of `payloads`.
Bytes framed(const std::vector<Bytes>& payloads) {
  Bytes out;
  for (const Bytes& p : payloads) {
    Bytes h = header(p.size());
    out.insert(out.end(), h.begin(), h.end());
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

std::vector<Bytes> payloads_of_sizes(const std::vector<std::size_t>& sizes) {
  std::vector<Bytes> out;
  std::uint32_t seed = 1;
  for (std::size_t n : sizes) out.push_back(nqtest::pattern(n, seed++));
  return out;
}

// Writes `bytes` the way a socket transport does: into buffer(), then commit(),
// at most `step` bytes at a time.
void push(FrameDecoder& d, std::span<const std::byte> bytes, std::vector<DecodedFrame>& out,
          std::size_t step = std::numeric_limits<std::size_t>::max()) {
  while (!bytes.empty()) {
    std::span<std::byte> dst = d.buffer();
    ASSERT_FALSE(dst.empty()) << "buffer() must never be empty";
    const std::size_t n = std::min({dst.size(), bytes.size(), step});
    std::memcpy(dst.data(), bytes.data(), n);
    d.commit(n, out);
    bytes = bytes.subspan(n);
  }
}

// Every frame is whole (no part) and equals the expected payload, in order.
void expect_whole(const std::vector<DecodedFrame>& got, const std::vector<Bytes>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_FALSE(got[i].part.has_value()) << "frame " << i;
    EXPECT_FALSE(got[i].truncated) << "frame " << i;
    EXPECT_EQ(got[i].data.to_bytes(), want[i]) << "frame " << i;
  }
}

// Small limits so that tests cross the small/large and arena boundaries cheaply.
FrameDecoder::Limits small_limits() {
  FrameDecoder::Limits l;
  l.arena_size = 1024;
  l.large_frame = 128;
  return l;
}

// What finish() gives for a frame cut short: a last part, marked truncated,
// saying where it stopped.
void expect_cut_short(const DecodedFrame& f, std::uint64_t offset, std::uint64_t total) {
  EXPECT_TRUE(f.truncated);
  ASSERT_TRUE(f.part.has_value());
  EXPECT_EQ(f.part->offset, offset);
  EXPECT_EQ(f.part->total, total);
  EXPECT_TRUE(f.part->last);
}

TEST(FrameHeader, IsAnUnsigned64BitBigEndianLength) {
  std::array<std::byte, 8> h{};
  encode_frame_header(0x0102030405060708ULL, h.data());
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(h[i], static_cast<std::byte>(i + 1));
  EXPECT_EQ(decode_frame_header(h.data()), 0x0102030405060708ULL);

  encode_frame_header(5, h.data());
  EXPECT_EQ(h[7], std::byte{5});
  EXPECT_EQ(h[0], std::byte{0});

  for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{255}, std::uint64_t{256}, std::uint64_t{1} << 32,
                          std::numeric_limits<std::uint64_t>::max()}) {
    encode_frame_header(v, h.data());
    EXPECT_EQ(decode_frame_header(h.data()), v);
  }
}

TEST(FrameDecoder, DecodesFramesFedInOnePiece) {
  const auto payloads = payloads_of_sizes({0, 1, 16, 100, 5000, 40000, 3});
  FrameDecoder d({});
  std::vector<DecodedFrame> out;
  EXPECT_TRUE(d.at_boundary());
  push(d, framed(payloads), out);
  expect_whole(out, payloads);
  EXPECT_TRUE(d.at_boundary());
  EXPECT_FALSE(d.finish(out));
  EXPECT_EQ(out.size(), payloads.size());
}

TEST(FrameDecoder, DecodesFramesFedByteByByte) {
  const auto payloads = payloads_of_sizes({5, 0, 127, 128, 300, 2, 1500});
  for (auto limits : {FrameDecoder::Limits{}, small_limits()}) {
    FrameDecoder d(limits);
    std::vector<DecodedFrame> out;
    const Bytes stream = framed(payloads);
    for (std::size_t i = 0; i < stream.size(); ++i) push(d, std::span(stream).subspan(i, 1), out);
    expect_whole(out, payloads);
    EXPECT_TRUE(d.at_boundary());
  }
}

TEST(FrameDecoder, IsAtABoundaryOnlyBetweenFrames) {
  FrameDecoder d(small_limits());
  std::vector<DecodedFrame> out;
  const Bytes stream = framed(payloads_of_sizes({3, 200}));
  push(d, std::span(stream).first(4), out);  // half a header
  EXPECT_FALSE(d.at_boundary());
  push(d, std::span(stream).subspan(4, 7), out);  // the rest of the header and 3 bytes
  EXPECT_TRUE(d.at_boundary());
  EXPECT_EQ(out.size(), 1u);
  push(d, std::span(stream).subspan(11, 20), out);  // into the large frame
  EXPECT_FALSE(d.at_boundary());
  push(d, std::span(stream).subspan(31), out);
  EXPECT_TRUE(d.at_boundary());
  EXPECT_EQ(out.size(), 2u);
}

TEST(FrameDecoder, DecodesFramesSplitAtEveryPosition) {
  const auto payloads = payloads_of_sizes({3, 0, 17, 300, 9, 50, 0, 128, 127});
  const Bytes stream = framed(payloads);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameDecoder d(small_limits());
    std::vector<DecodedFrame> out;
    push(d, std::span(stream).first(cut), out);
    push(d, std::span(stream).subspan(cut), out);
    expect_whole(out, payloads);
    ASSERT_FALSE(HasFailure()) << "cut at " << cut;
    EXPECT_FALSE(d.finish(out));
  }
}

TEST(FrameDecoder, DecodesFramesCutIntoRandomPieces) {
  const auto payloads = payloads_of_sizes({1, 2000, 0, 64, 255, 256, 257, 31, 4096, 12});
  const Bytes stream = framed(payloads);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    FrameDecoder d(small_limits());
    std::vector<DecodedFrame> out;
    std::size_t at = 0;
    while (at < stream.size()) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + rng() % 700);
      push(d, std::span(stream).subspan(at, n), out, 1 + rng() % 900);
      at += n;
    }
    expect_whole(out, payloads);
    ASSERT_FALSE(HasFailure()) << "round " << round;
  }
}

TEST(FrameDecoder, DeliversZeroLengthFrames) {
  FrameDecoder d({});
  std::vector<DecodedFrame> out;
  push(d, framed({{}, {}, {std::byte{7}}, {}}), out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].data.size(), 0u);
  EXPECT_EQ(out[1].data.size(), 0u);
  EXPECT_EQ(out[2].data.to_bytes(), Bytes{std::byte{7}});
  EXPECT_EQ(out[3].data.size(), 0u);
  EXPECT_TRUE(d.at_boundary());
}

TEST(FrameDecoder, SlicesSmallFramesFromTheArenaAndTheyOutliveTheDecoder) {
  const auto payloads = payloads_of_sizes({10, 20, 30});
  std::vector<DecodedFrame> out;
  {
    FrameDecoder d({});
    push(d, framed(payloads), out);
    ASSERT_EQ(out.size(), 3u);
    for (const DecodedFrame& f : out) {
      ASSERT_EQ(f.data.chunks(), 1u);
      EXPECT_TRUE(f.data.peek().owned());
    }
    // One arena, sliced in place: consecutive frames are 8 header bytes apart.
    EXPECT_EQ(out[1].data.peek().owner(), out[0].data.peek().owner());
    EXPECT_EQ(out[1].data.peek().data(), out[0].data.peek().data() + 10 + frame_header_size);
    EXPECT_EQ(out[2].data.peek().data(), out[1].data.peek().data() + 20 + frame_header_size);
  }
  // The decoder is gone: the three frames alone keep the arena alive.
  EXPECT_EQ(out[0].data.peek().owner().use_count(), 3);
  expect_whole(out, payloads);
}

TEST(FrameDecoder, KeepsFramesHeldByTheCallerIntactWhileTheArenaTurnsOver) {
  // Far more small frames than one arena holds; the caller keeps every one.
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < 400; ++i) sizes.push_back(i % 120);
  const auto payloads = payloads_of_sizes(sizes);
  FrameDecoder d(small_limits());
  std::vector<DecodedFrame> out;
  push(d, framed(payloads), out, 333);
  expect_whole(out, payloads);
}

TEST(FrameDecoder, ReusesTheArenaWhenTheCallerDropsFrames) {
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < 400; ++i) sizes.push_back(i % 120);
  const auto payloads = payloads_of_sizes(sizes);
  const Bytes stream = framed(payloads);
  FrameDecoder d(small_limits());
  std::size_t next = 0;
  for (std::size_t at = 0; at < stream.size(); at += 97) {
    std::vector<DecodedFrame> out;
    push(d, std::span(stream).subspan(at, std::min<std::size_t>(97, stream.size() - at)), out);
    for (const DecodedFrame& f : out) {
      ASSERT_LT(next, payloads.size());
      EXPECT_EQ(f.data.to_bytes(), payloads[next]) << "frame " << next;
      ++next;
    }
  }
  EXPECT_EQ(next, payloads.size());
}

TEST(FrameDecoder, ReadsALargeFrameStraightIntoItsOwnBuffer) {
  const Bytes payload = nqtest::pattern(100000, 3);
  const Bytes stream = framed({payload});
  FrameDecoder d({});  // large_frame: 32 KiB
  std::vector<DecodedFrame> out;
  push(d, std::span(stream).first(frame_header_size + 1000), out);
  EXPECT_TRUE(out.empty());

  std::span<std::byte> dst = d.buffer();
  EXPECT_EQ(dst.size(), payload.size() - 1000);  // exactly the rest of the body
  std::memcpy(dst.data(), payload.data() + 1000, dst.size());
  d.commit(dst.size(), out);

  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].part.has_value());
  ASSERT_EQ(out[0].data.chunks(), 1u);
  EXPECT_TRUE(out[0].data.peek().owned());
  EXPECT_EQ(out[0].data.peek().data() + 1000, dst.data());  // the bytes were received in place
  EXPECT_EQ(out[0].data.to_bytes(), payload);
  EXPECT_TRUE(d.at_boundary());
}

TEST(FrameDecoder, ReusesTheBufferOfALargeFrameTheApplicationDropped) {
  const auto payloads = payloads_of_sizes({100000, 100000, 100000});
  FrameDecoder d({});
  const std::byte* first = nullptr;
  {
    std::vector<DecodedFrame> out;
    push(d, framed({payloads[0]}), out);
    ASSERT_EQ(out.size(), 1u);
    first = out[0].data.peek().data();
  }  // dropped: its buffer goes back to the pool
  std::vector<DecodedFrame> held;
  push(d, framed({payloads[1]}), held);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].data.peek().data(), first);
  // A buffer still held is never handed out again.
  std::vector<DecodedFrame> out;
  push(d, framed({payloads[2]}), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NE(out[0].data.peek().data(), first);
  EXPECT_EQ(held[0].data.to_bytes(), payloads[1]);
  EXPECT_EQ(out[0].data.to_bytes(), payloads[2]);
}

TEST(BufferPool, HandsBackAReleasedBufferThatFits) {
  auto pool = std::make_shared<netqueue::detail::BufferPool>(1 << 20, 1 << 20);
  auto a = pool->get(1000);
  const std::byte* where = a.get();
  a.reset();
  auto b = pool->get(900);  // fits without wasting half of it
  EXPECT_EQ(b.get(), where);
  b.reset();
  auto c = pool->get(400);  // would waste more than half: a new buffer
  EXPECT_NE(c.get(), where);
  auto d = pool->get(1000);  // the cached one again
  EXPECT_EQ(d.get(), where);
}

TEST(FrameDecoder, BufferOfALargeFrameNeverReachesIntoTheNextFrame) {
  const auto payloads = payloads_of_sizes({200, 5});
  const Bytes stream = framed(payloads);
  FrameDecoder d(small_limits());
  std::vector<DecodedFrame> out;
  push(d, std::span(stream).first(frame_header_size), out);
  EXPECT_EQ(d.buffer().size(), 200u);
  push(d, std::span(stream).subspan(frame_header_size, 150), out);
  EXPECT_EQ(d.buffer().size(), 50u);
  push(d, std::span(stream).subspan(frame_header_size + 150), out);
  expect_whole(out, payloads);
}

TEST(FrameDecoder, DeliversMessagesLargerThanMessageSizeAsParts) {
  FrameDecoder::Limits limits = small_limits();
  limits.message_size = 10;
  const auto payloads = payloads_of_sizes({25, 5, 10});
  const Bytes stream = framed(payloads);
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, stream.size()}) {
    FrameDecoder d(limits);
    std::vector<DecodedFrame> out;
    push(d, stream, out, step);
    ASSERT_EQ(out.size(), 5u) << "step " << step;
    const std::uint64_t offsets[] = {0, 10, 20};
    const std::size_t sizes[] = {10, 10, 5};
    Bytes joined;
    for (std::size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(out[i].part.has_value());
      EXPECT_EQ(out[i].part->offset, offsets[i]);
      EXPECT_EQ(out[i].part->total, 25u);
      EXPECT_EQ(out[i].part->last, i == 2);
      EXPECT_FALSE(out[i].truncated);
      EXPECT_EQ(out[i].data.size(), sizes[i]);
      Bytes b = out[i].data.to_bytes();
      joined.insert(joined.end(), b.begin(), b.end());
    }
    EXPECT_EQ(joined, payloads[0]);
    // Frames up to message_size arrive whole.
    EXPECT_FALSE(out[3].part.has_value());
    EXPECT_EQ(out[3].data.to_bytes(), payloads[1]);
    EXPECT_FALSE(out[4].part.has_value());
    EXPECT_EQ(out[4].data.to_bytes(), payloads[2]);
  }
}

TEST(FrameDecoder, PartsAreAtMostMessageSizeForALargeFrame) {
  FrameDecoder::Limits limits;  // large_frame 32 KiB
  limits.message_size = 40000;
  const Bytes payload = nqtest::pattern(100000, 9);
  FrameDecoder d(limits);
  std::vector<DecodedFrame> out;
  push(d, framed({payload}), out, 4096);
  ASSERT_EQ(out.size(), 3u);
  Bytes joined;
  for (const DecodedFrame& f : out) {
    ASSERT_TRUE(f.part.has_value());
    EXPECT_LE(f.data.size(), 40000u);
    EXPECT_EQ(f.part->offset, joined.size());
    EXPECT_EQ(f.part->total, payload.size());
    Bytes b = f.data.to_bytes();
    joined.insert(joined.end(), b.begin(), b.end());
  }
  EXPECT_TRUE(out.back().part->last);
  EXPECT_FALSE(out.front().part->last);
  EXPECT_EQ(joined, payload);
}

TEST(FrameDecoder, FinishReportsWhetherTheStreamEndedInsideAFrame) {
  const Bytes stream = framed(payloads_of_sizes({5, 6}));
  {
    FrameDecoder d({});
    std::vector<DecodedFrame> out;
    EXPECT_FALSE(d.finish(out));  // nothing at all
  }
  {
    FrameDecoder d({});
    std::vector<DecodedFrame> out;
    push(d, std::span(stream).first(13), out);  // one whole frame
    EXPECT_FALSE(d.finish(out));
    EXPECT_EQ(out.size(), 1u);
  }
  {
    FrameDecoder d({});
    std::vector<DecodedFrame> out;
    push(d, std::span(stream).first(13 + 3), out);  // and part of a header
    EXPECT_TRUE(d.finish(out));
    EXPECT_EQ(out.size(), 1u);
  }
  {
    FrameDecoder d({});
    std::vector<DecodedFrame> out;
    push(d, std::span(stream).first(13 + 8 + 2), out);  // and part of a small body
    EXPECT_TRUE(d.finish(out));
    ASSERT_EQ(out.size(), 2u) << "what came of the small frame is not delivered";
    expect_cut_short(out[1], 0, 6);
    EXPECT_EQ(out[1].data.to_bytes(), Bytes(stream.begin() + 13 + 8, stream.begin() + 13 + 8 + 2));
  }
}

// One rule for every size: a frame under message_size that was being read
// into a buffer of its own is delivered as far as it came, as a small one is
// and as the last part of a message delivered in parts is.
TEST(FrameDecoder, FinishInsideALargeWholeFrameYieldsWhatCameMarkedTruncated) {
  const Bytes payload = nqtest::pattern(1000, 1);
  const Bytes stream = framed({payload});
  for (bool fed : {false, true}) {
    SCOPED_TRACE(fed ? "feed" : "commit");
    FrameDecoder d(small_limits());
    std::vector<DecodedFrame> out;
    if (fed) {
      d.feed(netqueue::Chunk::copy_of(std::span(stream).first(500)), out);
    } else {
      push(d, std::span(stream).first(500), out);
    }
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(d.finish(out));
    ASSERT_EQ(out.size(), 1u);
    expect_cut_short(out[0], 0, 1000);
    EXPECT_EQ(out[0].data.to_bytes(), Bytes(payload.begin(), payload.begin() + 500 - frame_header_size));
    EXPECT_FALSE(d.finish(out)) << "a second finish found a frame again";
  }
}

TEST(FrameDecoder, FinishInsidePartsYieldsALastPartMarkedTruncated) {
  FrameDecoder::Limits limits = small_limits();
  limits.message_size = 10;
  const Bytes payload = nqtest::pattern(25, 4);
  const Bytes stream = framed({payload});
  FrameDecoder d(limits);
  std::vector<DecodedFrame> out;
  push(d, std::span(stream).first(frame_header_size + 14), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].part->last);

  EXPECT_TRUE(d.finish(out));
  ASSERT_EQ(out.size(), 2u);
  expect_cut_short(out[1], 10, 25);
  EXPECT_EQ(out[1].data.to_bytes(), Bytes(payload.begin() + 10, payload.begin() + 14));
}

TEST(FrameDecoder, AHugeLengthHeaderCommitsNoMoreThanMessageSize) {
  FrameDecoder::Limits limits;
  limits.message_size = 1024;
  FrameDecoder d(limits);
  std::vector<DecodedFrame> out;
  const Bytes body = nqtest::pattern(100, 5);
  push(d, header(std::numeric_limits<std::uint64_t>::max()), out);
  EXPECT_EQ(d.buffer().size(), 1024u);  // one part's buffer, not 2^64 - 1 bytes
  push(d, body, out);
  EXPECT_EQ(d.buffer().size(), 1024u - 100u);
  EXPECT_TRUE(out.empty());

  EXPECT_TRUE(d.finish(out));
  ASSERT_EQ(out.size(), 1u);
  expect_cut_short(out[0], 0, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(out[0].data.to_bytes(), body);
}

TEST(FrameDecoder, FeedSlicesWholeSmallFramesOutOfThePieceWithoutCopying) {
  const auto payloads = payloads_of_sizes({10, 0, 200, 30});
  Chunk piece = Chunk::adopt(framed(payloads));
  FrameDecoder d({});
  std::vector<DecodedFrame> out;
  d.feed(piece, out);
  expect_whole(out, payloads);
  ASSERT_EQ(out.size(), 4u);
  std::size_t at = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    at += frame_header_size;
    ASSERT_EQ(out[i].data.chunks(), 1u);
    EXPECT_EQ(out[i].data.peek().data(), piece.data() + at) << "frame " << i;
    EXPECT_EQ(out[i].data.peek().owner(), piece.owner()) << "frame " << i;
    at += payloads[i].size();
  }
  EXPECT_TRUE(d.at_boundary());
}

TEST(FrameDecoder, FeedHandlesFramesSplitAcrossPiecesAtEveryPosition) {
  const auto payloads = payloads_of_sizes({3, 0, 17, 300, 9, 50, 128, 1});
  const Bytes stream = framed(payloads);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameDecoder d(small_limits());
    std::vector<DecodedFrame> out;
    d.feed(Chunk::adopt(Bytes(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(cut))), out);
    d.feed(Chunk::adopt(Bytes(stream.begin() + static_cast<std::ptrdiff_t>(cut), stream.end())), out);
    expect_whole(out, payloads);
    ASSERT_FALSE(HasFailure()) << "cut at " << cut;
    EXPECT_TRUE(d.at_boundary());
  }
}

TEST(FrameDecoder, FeedHandlesManySmallPieces) {
  const auto payloads = payloads_of_sizes({1, 2000, 0, 64, 255, 256, 257, 31, 4096, 12});
  const Bytes stream = framed(payloads);
  std::mt19937 rng(11);
  for (int round = 0; round < 100; ++round) {
    FrameDecoder d(small_limits());
    std::vector<DecodedFrame> out;
    for (std::size_t at = 0; at < stream.size();) {
      const std::size_t n = std::min<std::size_t>(stream.size() - at, 1 + rng() % 300);
      d.feed(Chunk::borrow(std::span(stream).subspan(at, n)), out);
      at += n;
    }
    expect_whole(out, payloads);
    ASSERT_FALSE(HasFailure()) << "round " << round;
    // Whatever was sliced from a borrowed piece must not be used after it; the
    // frames delivered here stay valid because `stream` outlives them.
  }
}

TEST(FrameDecoder, FeedSlicesWholeFramesThatFollowAFrameSplitAcrossPieces) {
  // Pieces (MQTT publishes, gRPC messages) are cut without regard to frames,
  // so most pieces start inside a frame. The frames lying whole in such a
  // piece, after the end of the split one, must still be sliced, not copied.
  const auto payloads = payloads_of_sizes({10, 20, 30, 40});
  const Bytes stream = framed(payloads);
  const std::size_t cut = (8 + 10) + 8 + 5;  // inside the second frame's body
  Chunk first = Chunk::adopt(Bytes(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(cut)));
  Chunk second = Chunk::adopt(Bytes(stream.begin() + static_cast<std::ptrdiff_t>(cut), stream.end()));
  FrameDecoder d({});
  std::vector<DecodedFrame> out;
  d.feed(first, out);
  d.feed(second, out);
  expect_whole(out, payloads);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].data.peek().data(), first.data() + 8);
  // Frames 3 and 4 lie whole inside the second piece.
  const std::size_t third = (20 - 5) + 8;
  EXPECT_EQ(out[2].data.peek().data(), second.data() + third) << "frame 3 was copied, not sliced";
  EXPECT_EQ(out[3].data.peek().data(), second.data() + third + 30 + 8) << "frame 4 was copied, not sliced";
}

TEST(FrameDecoder, FeedOfALargeFrameDeliversItWhole) {
  const auto payloads = payloads_of_sizes({5, 100000, 7});
  const Bytes stream = framed(payloads);
  FrameDecoder d({});
  std::vector<DecodedFrame> out;
  d.feed(Chunk::borrow(std::span(stream).first(50000)), out);
  d.feed(Chunk::borrow(std::span(stream).subspan(50000)), out);
  expect_whole(out, payloads);
}

}  // namespace
