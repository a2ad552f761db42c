// Unit tests of the send-side Batcher (src/stream/batcher.hpp): split and merge.
#include "stream/batcher.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "stream/frame.hpp"
#include "support/helpers.hpp"

namespace {

using netqueue::Chunk;
using netqueue::Stream;
using netqueue::detail::Batcher;
using netqueue::detail::frame_header_size;
using Bytes = std::vector<std::byte>;

static_assert(Batcher::max_buffers >= 3, "a frame needs room for a header and a payload");

// Reference encoder: 8-byte big-endian length, then the payload.
Bytes reference(const std::vector<Bytes>& payloads) {
  Bytes out;
  for (const Bytes& p : payloads) {
    std::uint64_t n = p.size();
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((n >> shift) & 0xff));
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

Bytes join(std::span<const Batcher::Buffer> buffers) {
  Bytes out;
  for (const auto& b : buffers) out.insert(out.end(), b.begin(), b.end());
  return out;
}

// Everything the batcher would send, batch by batch, checking each batch.
struct Drained {
  Bytes bytes;
  std::size_t frames = 0;
  std::size_t batches = 0;
};
Drained drain(Batcher& b, std::size_t max_size) {
  Drained d;
  for (int guard = 0; guard < 1000000; ++guard) {
    auto buffers = b.next();
    if (buffers.empty()) {
      EXPECT_TRUE(b.empty()) << "no batch while frames are pending";
      break;
    }
    std::size_t total = 0;
    for (const auto& buf : buffers) total += buf.size();
    EXPECT_EQ(total, b.batch_bytes());
    EXPECT_LE(total, max_size);
    EXPECT_GT(total, 0u);
    EXPECT_LE(buffers.size(), Batcher::max_buffers);
    const std::uint64_t before = b.pending_bytes();
    Bytes batch = join(buffers);
    d.bytes.insert(d.bytes.end(), batch.begin(), batch.end());
    d.frames += b.consume().frames;
    EXPECT_EQ(b.pending_bytes(), before - total);
    ++d.batches;
  }
  EXPECT_EQ(b.pending_bytes(), 0u);
  return d;
}

Stream borrowed(const Bytes& bytes) { return Stream::borrow(std::span<const std::byte>(bytes)); }

TEST(Batcher, AFrameGoesOutAsItsHeaderThenItsPayload) {
  Batcher b(1024, 1024, 16);
  const Bytes payload = nqtest::pattern(5, 1);
  b.push(borrowed(payload));
  EXPECT_FALSE(b.empty());
  EXPECT_EQ(b.pending_bytes(), 13u);
  auto buffers = b.next();
  EXPECT_EQ(join(buffers), reference({payload}));
  EXPECT_EQ(b.batch_bytes(), 13u);
  EXPECT_EQ(b.consume().frames, 1u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.pending_bytes(), 0u);
  EXPECT_TRUE(b.next().empty());
}

TEST(Batcher, AnEmptyPayloadIsAHeaderAlone) {
  for (std::size_t efficient : {std::size_t{0}, std::size_t{64}}) {
    Batcher b(1024, 1024, efficient);
    b.push(Stream());
    b.push(Stream(Chunk()));
    Drained d = drain(b, 1024);
    EXPECT_EQ(d.bytes, reference({{}, {}}));
    EXPECT_EQ(d.frames, 2u);
  }
}

TEST(Batcher, NothingQueuedGivesAnEmptyBatch) {
  Batcher b(1024, 1024, 16);
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.next().empty());
  EXPECT_EQ(b.batch_bytes(), 0u);
  EXPECT_EQ(b.consume().frames, 0u);
}

TEST(Batcher, BatchesNeverExceedMaxSize) {
  std::vector<Bytes> payloads;
  for (std::uint32_t i = 0; i < 10; ++i) payloads.push_back(nqtest::pattern(37, i));
  Batcher b(100, 100, 50);
  for (const Bytes& p : payloads) b.push(borrowed(p));
  Drained d = drain(b, 100);
  EXPECT_EQ(d.bytes, reference(payloads));
  EXPECT_EQ(d.frames, payloads.size());
  EXPECT_EQ(d.batches, (payloads.size() * 45 + 99) / 100);  // every batch but the last is full
}

TEST(Batcher, SplitsALargePayloadAcrossBatchesInOrderWithoutCopying) {
  const Bytes payload = nqtest::pattern(10000, 2);
  Batcher b(1000, 1000, 16);
  b.push(borrowed(payload));
  std::size_t sent = 0;
  Bytes all;
  for (int i = 0; i < 11; ++i) {
    auto buffers = b.next();
    ASSERT_FALSE(buffers.empty());
    EXPECT_LE(b.batch_bytes(), 1000u);
    // The payload's bytes come straight from the caller's memory.
    const auto& last = buffers.back();
    const std::size_t payload_bytes = i == 0 ? b.batch_bytes() - frame_header_size : b.batch_bytes();
    EXPECT_EQ(last.data(), payload.data() + sent);
    EXPECT_EQ(last.size(), payload_bytes);
    sent += payload_bytes;
    Bytes batch = join(buffers);
    all.insert(all.end(), batch.begin(), batch.end());
    EXPECT_EQ(b.consume().frames, i == 10 ? 1u : 0u) << "batch " << i;
  }
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(sent, payload.size());
  EXPECT_EQ(all, reference({payload}));
}

TEST(Batcher, MergesSmallFramesIntoOneBuffer) {
  std::vector<Bytes> payloads;
  for (std::uint32_t i = 0; i < 5; ++i) payloads.push_back(nqtest::pattern(10, i));
  Batcher b(1024, 1024, 64);
  for (const Bytes& p : payloads) b.push(borrowed(p));
  auto buffers = b.next();
  ASSERT_EQ(buffers.size(), 1u);  // five frames, one contiguous buffer
  EXPECT_EQ(buffers[0].size(), 5u * 18u);
  for (const Bytes& p : payloads) {
    EXPECT_FALSE(buffers[0].data() >= p.data() && buffers[0].data() < p.data() + p.size());
  }
  EXPECT_EQ(join(buffers), reference(payloads));
  EXPECT_EQ(b.consume().frames, 5u);
}

TEST(Batcher, MergesMultiChunkSmallFramesToo) {
  Stream s;
  s.write(Chunk::copy_of("ab"));
  s.write(Chunk::copy_of("cd"));
  s.write(Chunk::copy_of("e"));
  Batcher b(1024, 1024, 64);
  b.push(std::move(s));
  b.push(Stream::copy_of("fg"));
  auto buffers = b.next();
  ASSERT_EQ(buffers.size(), 1u);
  const Bytes abcde{std::byte{'a'}, std::byte{'b'}, std::byte{'c'}, std::byte{'d'}, std::byte{'e'}};
  const Bytes fg{std::byte{'f'}, std::byte{'g'}};
  EXPECT_EQ(join(buffers), reference({abcde, fg}));
}

TEST(Batcher, ReferencesLargePayloadsInsteadOfCopyingThem) {
  const Bytes small = nqtest::pattern(10, 1);
  const Bytes large = nqtest::pattern(4096, 2);
  Batcher b(1 << 20, 1 << 20, 64);
  b.push(borrowed(small));
  b.push(borrowed(large));
  b.push(borrowed(small));
  auto buffers = b.next();
  ASSERT_EQ(buffers.size(), 3u);  // [small frame + large header] [large payload] [small frame]
  EXPECT_EQ(buffers[0].size(), 18u + 8u);
  EXPECT_EQ(buffers[1].data(), large.data());
  EXPECT_EQ(buffers[1].size(), large.size());
  EXPECT_EQ(buffers[2].size(), 18u);
  EXPECT_EQ(join(buffers), reference({small, large, small}));
  EXPECT_EQ(b.consume().frames, 3u);
}

TEST(Batcher, ConsumeReturnsTheFramesTheBatchCompleted) {
  // 18-byte frames in 20-byte batches: each batch ends inside the next frame.
  std::vector<Bytes> payloads;
  for (std::uint32_t i = 0; i < 4; ++i) payloads.push_back(nqtest::pattern(10, i));
  Batcher b(20, 20, 0);
  for (const Bytes& p : payloads) b.push(borrowed(p));
  std::vector<std::size_t> completed;
  Bytes all;
  while (!b.next().empty()) {
    Bytes batch = join(b.next());  // a second next() rebuilds the same batch
    all.insert(all.end(), batch.begin(), batch.end());
    completed.push_back(b.consume().frames);
  }
  // Bytes 0-20 complete frame 1; 20-40 frame 2 (ends at 36); 40-60 frame 3 (54); 60-72 frame 4.
  EXPECT_EQ(completed, (std::vector<std::size_t>{1, 1, 1, 1}));
  EXPECT_EQ(all, reference(payloads));

  Batcher c(10, 10, 0);
  c.push(borrowed(payloads[0]));
  c.push(borrowed(payloads[1]));
  std::vector<std::size_t> done;
  while (!c.next().empty()) done.push_back(c.consume().frames);
  EXPECT_EQ(done, (std::vector<std::size_t>{0, 1, 0, 1}));
}

TEST(Batcher, PendingBytesCountsHeadersAndPayloadsUntilConsumed) {
  Batcher b(100, 100, 0);
  b.push(Stream::copy_of(std::string(150, 'x')));
  b.push(Stream::copy_of("abc"));
  EXPECT_EQ(b.pending_bytes(), 158u + 11u);
  (void)b.next();
  EXPECT_EQ(b.pending_bytes(), 169u);  // nothing consumed yet
  EXPECT_EQ(b.consume().frames, 0u);
  EXPECT_EQ(b.pending_bytes(), 69u);
  (void)b.next();
  EXPECT_EQ(b.batch_bytes(), 69u);
  EXPECT_EQ(b.consume().frames, 2u);
  EXPECT_EQ(b.pending_bytes(), 0u);
}

TEST(Batcher, NextWithoutConsumeRebuildsTheSameBatch) {
  std::vector<Bytes> payloads{nqtest::pattern(3, 1), nqtest::pattern(500, 2), nqtest::pattern(7, 3)};
  Batcher b(300, 300, 32);
  for (const Bytes& p : payloads) b.push(borrowed(p));
  Bytes first = join(b.next());
  Bytes again = join(b.next());
  EXPECT_EQ(first, again);
  (void)b.consume();
  EXPECT_EQ(join(b.next()), join(b.next()));
}

TEST(Batcher, RespectsMaxBuffers) {
  // One payload of 200 chunks, and 100 frames of two chunks each; nothing merged.
  Stream many;
  std::vector<Bytes> parts;
  for (std::uint32_t i = 0; i < 200; ++i) parts.push_back(nqtest::pattern(10, i));
  for (const Bytes& p : parts) many.write(Chunk::borrow(std::span<const std::byte>(p)));
  Bytes whole;
  for (const Bytes& p : parts) whole.insert(whole.end(), p.begin(), p.end());

  std::vector<Bytes> payloads{whole};
  Batcher b(1 << 20, 1 << 20, 0);
  b.push(std::move(many));
  for (std::uint32_t i = 0; i < 100; ++i) {
    Stream two;
    two.write(Chunk::borrow(std::span<const std::byte>(parts[i])));
    two.write(Chunk::borrow(std::span<const std::byte>(parts[i + 100])));
    Bytes joined = parts[i];
    joined.insert(joined.end(), parts[i + 100].begin(), parts[i + 100].end());
    payloads.push_back(joined);
    b.push(std::move(two));
  }
  EXPECT_EQ(b.next().size(), Batcher::max_buffers);
  Drained d = drain(b, 1 << 20);  // checks every batch against max_buffers
  EXPECT_EQ(d.bytes, reference(payloads));
  EXPECT_EQ(d.frames, payloads.size());
  EXPECT_GT(d.batches, 2u);
}

TEST(Batcher, SplitsHeadersWhenMaxSizeIsSmallerThanAHeader) {
  std::vector<Bytes> payloads{nqtest::pattern(5, 1), {}, nqtest::pattern(2, 2)};
  for (std::size_t max : {std::size_t{1}, std::size_t{3}, std::size_t{7}}) {
    Batcher b(max, max, max);
    for (const Bytes& p : payloads) b.push(borrowed(p));
    Drained d = drain(b, max);
    EXPECT_EQ(d.bytes, reference(payloads)) << "max_size " << max;
    EXPECT_EQ(d.frames, payloads.size());
  }
}

TEST(Batcher, ClearDropsEverything) {
  Batcher b(100, 100, 10);
  b.push(Stream::copy_of(std::string(500, 'x')));
  (void)b.next();
  (void)b.consume();
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.pending_bytes(), 0u);
  EXPECT_TRUE(b.next().empty());
  b.push(Stream::copy_of("again"));
  Drained d = drain(b, 100);
  EXPECT_EQ(d.bytes, reference({{std::byte{'a'}, std::byte{'g'}, std::byte{'a'}, std::byte{'i'}, std::byte{'n'}}}));
}

// A random mix of sizes, chunkings and limits, pushed while batches go out:
// the concatenated batches are exactly the reference framing.
TEST(Batcher, ConcatenatedBatchesReproduceTheFramedStreamForARandomMix) {
  std::mt19937 rng(12345);
  const std::size_t maxes[] = {1, 9, 64, 1000, 4096, 65536};
  for (int round = 0; round < 60; ++round) {
    const std::size_t max = maxes[rng() % std::size(maxes)];
    const std::size_t merge = rng() % 2 ? max : rng() % (max + 1);
    const std::size_t efficient = rng() % 2 ? merge / 2 : rng() % (merge + 1);
    Batcher b(max, merge, efficient);

    std::vector<Bytes> payloads;
    std::vector<Bytes> storage;  // owned by the test: chunks borrow it
    storage.reserve(2000);
    Bytes sent;
    std::size_t frames = 0;
    const int count = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < count; ++i) {
      // Large payloads now and then, kept to a few hundred batches when max_size is tiny.
      const std::size_t large = std::min<std::size_t>(20000, max * 300 + 1);
      const std::size_t size = rng() % 4 == 0 ? rng() % large : rng() % 200;
      Bytes p = nqtest::pattern(size, static_cast<std::uint32_t>(rng()));
      Stream s;
      for (std::size_t at = 0; at < size;) {
        const std::size_t n = std::min<std::size_t>(size - at, 1 + rng() % 3000);
        if (rng() % 8 == 0) s.write(Chunk());  // an empty chunk now and then
        if (rng() % 2) {
          storage.emplace_back(p.begin() + static_cast<std::ptrdiff_t>(at),
                               p.begin() + static_cast<std::ptrdiff_t>(at + n));
          s.write(Chunk::borrow(std::span<const std::byte>(storage.back())));
        } else {
          s.write(Chunk::copy_of(std::span<const std::byte>(p).subspan(at, n)));
        }
        at += n;
      }
      payloads.push_back(std::move(p));
      b.push(std::move(s));
      // Send a few batches between pushes.
      for (int k = static_cast<int>(rng() % 3); k > 0; --k) {
        auto buffers = b.next();
        if (buffers.empty()) break;
        ASSERT_LE(b.batch_bytes(), max);
        ASSERT_LE(buffers.size(), Batcher::max_buffers);
        Bytes batch = join(buffers);
        sent.insert(sent.end(), batch.begin(), batch.end());
        frames += b.consume().frames;
      }
    }
    Drained d = drain(b, max);
    sent.insert(sent.end(), d.bytes.begin(), d.bytes.end());
    frames += d.frames;
    ASSERT_EQ(sent, reference(payloads)) << "round " << round << " max " << max << " merge " << merge << " efficient "
                                         << efficient;
    EXPECT_EQ(frames, payloads.size());
  }
}

// A burst merged far into the merge buffer gives it back once everything went
// out (a server's idle sessions hold none); a session that merges a little at
// a time keeps it, so that small messages never pay for a new one.
TEST(Batcher, TheMergeBufferIsGivenBackAfterABurstAndKeptForLittleMerges) {
  Batcher b(1024 * 1024, 1024 * 1024, 16 * 1024);
  EXPECT_EQ(b.merge_capacity(), 0u) << "allocated before anything was merged";
  auto send_all = [&](std::size_t count, std::size_t size) {
    std::vector<Bytes> payloads;
    for (std::size_t i = 0; i < count; ++i) payloads.push_back(nqtest::pattern(size, static_cast<std::uint32_t>(i)));
    for (const Bytes& p : payloads) b.push(Stream::copy_of(p));
    Bytes out;
    while (!b.empty()) {
      const Bytes batch = join(b.next());
      out.insert(out.end(), batch.begin(), batch.end());
      b.consume();
    }
    EXPECT_EQ(out, reference(payloads)) << "the stream is not the frames in order";
  };
  send_all(10, 100);  // 1 KiB merged: kept
  EXPECT_EQ(b.merge_capacity(), 1024u * 1024u);
  send_all(100, 4000);  // 400 KB merged in one batch: given back
  EXPECT_EQ(b.merge_capacity(), 0u) << "a burst's merge buffer was kept";
  send_all(3, 100);  // and made again when needed
  EXPECT_EQ(b.merge_capacity(), 1024u * 1024u);
}

}  // namespace
