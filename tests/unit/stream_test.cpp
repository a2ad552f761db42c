// Unit tests of netqueue::Chunk and netqueue::Stream (include/netqueue/stream.hpp).
#include "netqueue/stream.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace {

using netqueue::Chunk;
using netqueue::Stream;

// A Stream is move-only and cheap to move; a Chunk is a cheap, copyable view.
static_assert(!std::is_copy_constructible_v<Stream>);
static_assert(!std::is_copy_assignable_v<Stream>);
static_assert(std::is_nothrow_move_constructible_v<Stream>);
static_assert(std::is_nothrow_move_assignable_v<Stream>);
static_assert(std::is_nothrow_default_constructible_v<Stream>);
static_assert(std::is_copy_constructible_v<Chunk>);
static_assert(std::is_nothrow_move_constructible_v<Chunk>);
static_assert(std::is_nothrow_default_constructible_v<Chunk>);

std::vector<std::byte> bytes_of(std::string_view text) {
  std::vector<std::byte> out(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) out[i] = static_cast<std::byte>(text[i]);
  return out;
}

const std::byte* ptr(const std::string& s) { return reinterpret_cast<const std::byte*>(s.data()); }

// "ab" + "cde" + "f", each chunk owning its own vector.
Stream abcdef() {
  Stream s;
  s.write(Chunk::adopt(bytes_of("ab")));
  s.write(Chunk::adopt(bytes_of("cde")));
  s.write(Chunk::adopt(bytes_of("f")));
  return s;
}

std::vector<std::string> texts(const Stream& s) {
  std::vector<std::string> out;
  for (const Chunk& c : s) out.emplace_back(c.view());
  return out;
}

// ---- Chunk ----

TEST(Chunk, DefaultConstructedChunkIsEmptyAndOwnsNothing) {
  Chunk c;
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.size(), 0u);
  EXPECT_FALSE(c.owned());
}

TEST(Chunk, BorrowViewsTheCallersBytesWithoutOwningThem) {
  const std::string text = "borrowed bytes";
  Chunk c = Chunk::borrow(text);
  EXPECT_EQ(c.data(), ptr(text));
  EXPECT_EQ(c.size(), text.size());
  EXPECT_EQ(c.view(), text);
  EXPECT_FALSE(c.owned());
  EXPECT_EQ(c.owner(), nullptr);

  const std::vector<std::byte> raw = bytes_of("xyz");
  Chunk r = Chunk::borrow(std::span<const std::byte>(raw));
  EXPECT_EQ(r.data(), raw.data());
  EXPECT_FALSE(r.owned());
}

TEST(Chunk, AdoptKeepsTheMemoryAliveAfterTheContainerIsGone) {
  Chunk c;
  const std::byte* where = nullptr;
  {
    std::vector<std::byte> v = bytes_of("adopted without a copy");
    where = v.data();
    c = Chunk::adopt(std::move(v));
  }
  EXPECT_TRUE(c.owned());
  EXPECT_EQ(c.data(), where);  // moved, not copied
  EXPECT_EQ(c.view(), "adopted without a copy");
  EXPECT_EQ(c.owner().use_count(), 1);
}

TEST(Chunk, AdoptOfALongStringKeepsItsBuffer) {
  std::string s(1000, 'q');
  const std::byte* where = ptr(s);
  Chunk c = Chunk::adopt(std::move(s));
  EXPECT_TRUE(c.owned());
  EXPECT_EQ(c.data(), where);
  EXPECT_EQ(c.view(), std::string(1000, 'q'));
}

TEST(Chunk, AdoptWithAnOwnerSharesThatOwner) {
  auto holder = std::make_shared<const std::string>("owned elsewhere");
  std::weak_ptr<const std::string> watch = holder;
  Chunk c = Chunk::adopt(holder, std::as_bytes(std::span(*holder)));
  holder.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(c.view(), "owned elsewhere");
  c = Chunk();
  EXPECT_TRUE(watch.expired());
}

TEST(Chunk, CopyOfCopiesIntoMemoryItOwns) {
  std::string text = "copy me";
  Chunk c = Chunk::copy_of(text);
  EXPECT_TRUE(c.owned());
  EXPECT_NE(c.data(), ptr(text));
  text[0] = 'X';
  EXPECT_EQ(c.view(), "copy me");

  const std::vector<std::byte> raw = bytes_of("raw");
  Chunk r = Chunk::copy_of(std::span<const std::byte>(raw));
  EXPECT_NE(r.data(), raw.data());
  EXPECT_EQ(r.view(), "raw");
}

TEST(Chunk, SliceSharesMemoryAndOwnership) {
  Chunk whole = Chunk::adopt(bytes_of("0123456789"));
  Chunk part = whole.slice(2, 3);
  EXPECT_EQ(part.data(), whole.data() + 2);
  EXPECT_EQ(part.view(), "234");
  EXPECT_EQ(part.owner(), whole.owner());
  whole = Chunk();  // the slice alone keeps the memory alive
  EXPECT_TRUE(part.owned());
  EXPECT_EQ(part.owner().use_count(), 1);
  EXPECT_EQ(part.view(), "234");
}

TEST(Chunk, SliceOfABorrowedChunkStaysBorrowed) {
  const std::string text = "borrowed";
  Chunk part = Chunk::borrow(text).slice(3);
  EXPECT_FALSE(part.owned());
  EXPECT_EQ(part.data(), ptr(text) + 3);
  EXPECT_EQ(part.view(), "rowed");
}

TEST(Chunk, SliceClampsTheCountAndRejectsAnOffsetPastTheEnd) {
  Chunk c = Chunk::copy_of("0123456789");
  EXPECT_EQ(c.slice(7, 100).view(), "789");
  EXPECT_EQ(c.slice(4).view(), "456789");
  EXPECT_TRUE(c.slice(10).empty());
  EXPECT_TRUE(c.slice(3, 0).empty());
  EXPECT_THROW((void)c.slice(11), std::out_of_range);
  EXPECT_THROW((void)Chunk().slice(1), std::out_of_range);
}

// ---- Stream ----

TEST(Stream, NewStreamIsEmptyAndReadingItThrows) {
  Stream s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.chunks(), 0u);
  EXPECT_EQ(s.size(), 0u);
  EXPECT_THROW((void)s.read(), std::out_of_range);
  EXPECT_THROW((void)s.peek(), std::out_of_range);
  EXPECT_THROW((void)s.unwrite(), std::out_of_range);
  EXPECT_THROW((void)s.read(1), std::out_of_range);
  EXPECT_TRUE(s.read(0).empty());
}

TEST(Stream, FactoriesFollowTheChunkOwnershipRules) {
  const std::string text = "same rules";
  Stream borrowed = Stream::borrow(text);
  ASSERT_EQ(borrowed.chunks(), 1u);
  EXPECT_FALSE(borrowed.peek().owned());
  EXPECT_EQ(borrowed.peek().data(), ptr(text));

  std::vector<std::byte> v = bytes_of("adopted");
  const std::byte* where = v.data();
  Stream adopted = Stream::adopt(std::move(v));
  EXPECT_TRUE(adopted.peek().owned());
  EXPECT_EQ(adopted.peek().data(), where);

  Stream copied = Stream::copy_of(text);
  EXPECT_TRUE(copied.peek().owned());
  EXPECT_NE(copied.peek().data(), ptr(text));
  EXPECT_EQ(copied.to_string(), text);
}

TEST(Stream, WriteAppendsChunksAndCountsTheirBytes) {
  Stream s = abcdef();
  EXPECT_EQ(s.chunks(), 3u);
  EXPECT_EQ(s.size(), 6u);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(texts(s), (std::vector<std::string>{"ab", "cde", "f"}));
  EXPECT_EQ(s.to_string(), "abcdef");
}

TEST(Stream, EmptyChunksCountAsChunksNotBytes) {
  Stream s;
  s.write(Chunk());
  EXPECT_EQ(s.chunks(), 1u);
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.empty());
  s.write(Chunk::copy_of("x"));
  s.write(Chunk::copy_of(""));
  EXPECT_EQ(s.chunks(), 3u);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.read().size(), 0u);
  EXPECT_EQ(s.read().view(), "x");
  EXPECT_EQ(s.read().size(), 0u);
  EXPECT_TRUE(s.empty());
}

TEST(Stream, ReadHandsOutTheFirstChunkWithoutCopying) {
  Stream s = abcdef();
  const std::byte* first = s.peek().data();
  Chunk c = s.read();
  EXPECT_EQ(c.data(), first);
  EXPECT_EQ(c.view(), "ab");
  EXPECT_EQ(s.chunks(), 2u);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.read().view(), "cde");
  EXPECT_EQ(s.read().view(), "f");
  EXPECT_TRUE(s.empty());
  EXPECT_THROW((void)s.read(), std::out_of_range);
}

TEST(Stream, PeekReturnsTheFirstChunkAndLeavesItInPlace) {
  Stream s = abcdef();
  EXPECT_EQ(s.peek().view(), "ab");
  EXPECT_EQ(s.peek().view(), "ab");
  EXPECT_EQ(s.chunks(), 3u);
  EXPECT_EQ(s.size(), 6u);
}

TEST(Stream, UnreadPutsAChunkBackInFront) {
  Stream s = abcdef();
  Chunk c = s.read();
  s.unread(c);
  EXPECT_EQ(s.chunks(), 3u);
  EXPECT_EQ(s.size(), 6u);
  EXPECT_EQ(s.peek().data(), c.data());
  EXPECT_EQ(s.to_string(), "abcdef");

  // In front of a stream nothing was read from, too.
  s.unread(Chunk::copy_of(">"));
  EXPECT_EQ(s.chunks(), 4u);
  EXPECT_EQ(s.to_string(), ">abcdef");
}

TEST(Stream, UnwriteRemovesTheLastChunk) {
  Stream s = abcdef();
  EXPECT_EQ(s.unwrite().view(), "f");
  EXPECT_EQ(s.chunks(), 2u);
  EXPECT_EQ(s.size(), 5u);
  EXPECT_EQ(s.to_string(), "abcde");
}

TEST(Stream, UnwriteAfterReadsEmptiesTheStreamCleanly) {
  Stream s = abcdef();
  (void)s.read();
  (void)s.read();
  EXPECT_EQ(s.unwrite().view(), "f");
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.chunks(), 0u);
  EXPECT_THROW((void)s.unwrite(), std::out_of_range);
  s.write(Chunk::copy_of("g"));
  EXPECT_EQ(s.chunks(), 1u);
  EXPECT_EQ(s.read().view(), "g");
}

TEST(Stream, ReadAllReturnsEveryChunkAndLeavesTheStreamEmpty) {
  Stream s = abcdef();
  std::vector<Chunk> all = s.read_all();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].view(), "ab");
  EXPECT_EQ(all[2].view(), "f");
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);

  Stream t = abcdef();
  (void)t.read();  // only what is left is returned
  std::vector<Chunk> rest = t.read_all();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].view(), "cde");
  EXPECT_EQ(rest[1].view(), "f");
  EXPECT_TRUE(t.empty());
}

TEST(Stream, WriteAllAppendsEveryChunkInOrder) {
  Stream s;
  s.write(Chunk::copy_of("0"));
  std::vector<Chunk> more{Chunk::copy_of("12"), Chunk::copy_of("345")};
  const std::byte* where = more[1].data();
  s.write_all(more);
  EXPECT_EQ(s.chunks(), 3u);
  EXPECT_EQ(s.size(), 6u);
  EXPECT_EQ(s.to_string(), "012345");
  (void)s.read();
  (void)s.read();
  EXPECT_EQ(s.peek().data(), where);
}

TEST(Stream, AppendMovesEveryChunkOfTheOtherStream) {
  Stream a;
  Stream b = abcdef();
  const std::byte* first = b.peek().data();
  a.append(std::move(b));
  EXPECT_EQ(a.chunks(), 3u);
  EXPECT_EQ(a.size(), 6u);
  EXPECT_EQ(a.peek().data(), first);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move): append leaves it empty

  Stream c = abcdef();
  (void)c.read();
  a.append(std::move(c));
  EXPECT_EQ(a.chunks(), 5u);
  EXPECT_EQ(a.size(), 10u);
  EXPECT_EQ(a.to_string(), "abcdefcdef");
  EXPECT_TRUE(c.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(Stream, ReadNSplitsAChunkWithoutCopying) {
  Stream s = abcdef();
  const std::byte* ab = s.peek().data();
  const std::byte* cde = (s.begin() + 1)->data();
  Stream head = s.read(4);
  EXPECT_EQ(head.size(), 4u);
  EXPECT_EQ(s.size(), 2u);
  ASSERT_EQ(head.chunks(), 2u);
  EXPECT_EQ(head.peek().data(), ab);
  EXPECT_EQ((head.begin() + 1)->data(), cde);  // "cd": the front of "cde", not a copy
  EXPECT_EQ(head.to_string(), "abcd");
  ASSERT_EQ(s.chunks(), 2u);
  EXPECT_EQ(s.peek().data(), cde + 2);  // "e": the rest of the same chunk
  EXPECT_EQ(s.to_string(), "ef");
  EXPECT_TRUE(s.peek().owned());
}

TEST(Stream, ReadNOfTheWholeStreamTakesEveryChunk) {
  Stream s = abcdef();
  Stream all = s.read(6);
  EXPECT_EQ(all.chunks(), 3u);
  EXPECT_EQ(all.to_string(), "abcdef");
  EXPECT_TRUE(s.empty());
}

TEST(Stream, ReadNPastTheEndThrowsAndLeavesTheStreamAlone) {
  Stream s = abcdef();
  EXPECT_THROW((void)s.read(7), std::out_of_range);
  EXPECT_EQ(s.chunks(), 3u);
  EXPECT_EQ(s.size(), 6u);
  EXPECT_EQ(s.to_string(), "abcdef");
}

TEST(Stream, ClearDropsEverything) {
  Stream s = abcdef();
  (void)s.read();
  s.clear();
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.chunks(), 0u);
  EXPECT_EQ(s.size(), 0u);
  s.write(Chunk::copy_of("z"));
  EXPECT_EQ(s.to_string(), "z");
}

TEST(Stream, CopyIsShallowAndIndependent) {
  Stream s = abcdef();
  Stream c = s.copy();
  ASSERT_EQ(c.chunks(), 3u);
  EXPECT_EQ(c.size(), 6u);
  auto it = s.begin();
  for (const Chunk& chunk : c) EXPECT_EQ(chunk.data(), (it++)->data());
  // Consuming the copy leaves the original as it was.
  (void)c.read();
  (void)c.unwrite();
  EXPECT_EQ(s.chunks(), 3u);
  EXPECT_EQ(s.to_string(), "abcdef");
}

TEST(Stream, CopyOfAPartlyReadStreamHasOnlyWhatIsLeft) {
  Stream s = abcdef();
  (void)s.read();
  Stream c = s.copy();
  EXPECT_EQ(c.chunks(), 2u);
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c.to_string(), "cdef");
}

TEST(Stream, KeepAliveMakesBorrowedChunksShareTheOwner) {
  auto holder = std::make_shared<const std::string>("held by the library now");
  std::weak_ptr<const std::string> watch = holder;
  Stream s = Stream::borrow(*holder);
  Chunk owned = Chunk::copy_of("!");
  const auto owned_owner = owned.owner();
  s.write(owned);
  EXPECT_FALSE(s.peek().owned());

  s.keep_alive(holder);
  const std::byte* where = ptr(*holder);
  holder.reset();
  EXPECT_FALSE(watch.expired());
  EXPECT_TRUE(s.peek().owned());
  EXPECT_EQ(s.peek().data(), where);                 // the same bytes, not a copy
  EXPECT_EQ((s.begin() + 1)->owner(), owned_owner);  // owned chunks keep their owner
  EXPECT_EQ(s.to_string(), "held by the library now!");
  s.clear();
  EXPECT_TRUE(watch.expired());
}

TEST(Stream, ToBytesToStringAndCopyToCopyEveryByte) {
  Stream s = abcdef();
  std::vector<std::byte> bytes = s.to_bytes();
  EXPECT_EQ(bytes, bytes_of("abcdef"));
  EXPECT_EQ(s.to_string(), "abcdef");
  EXPECT_EQ(s.chunks(), 3u);  // converting does not consume

  std::array<std::byte, 8> out{};
  s.copy_to(out);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(out.data()), 6), "abcdef");
  EXPECT_EQ(out[6], std::byte{0});
  std::array<std::byte, 5> small{};
  EXPECT_THROW(s.copy_to(small), std::out_of_range);

  EXPECT_TRUE(Stream().to_bytes().empty());
  EXPECT_EQ(Stream().to_string(), "");
}

TEST(Stream, ContiguousIsTheOnlyChunksBytesAndOtherwiseEmpty) {
  const std::string text = "one chunk";
  Stream one = Stream::borrow(text);
  EXPECT_EQ(one.contiguous().data(), ptr(text));
  EXPECT_EQ(one.contiguous().size(), text.size());

  Stream many = abcdef();
  EXPECT_TRUE(many.contiguous().empty());
  EXPECT_TRUE(Stream().contiguous().empty());
  (void)many.read();
  (void)many.read();
  EXPECT_EQ(many.contiguous().size(), 1u);  // one chunk left
}

TEST(Stream, MovingAStreamTakesItsChunks) {
  Stream s = abcdef();
  const std::byte* first = s.peek().data();
  Stream t = std::move(s);
  EXPECT_EQ(t.chunks(), 3u);
  EXPECT_EQ(t.peek().data(), first);
  Stream u;
  u = std::move(t);
  EXPECT_EQ(u.size(), 6u);
}

TEST(Stream, ManyReadsAndWritesKeepOrderAndCounts) {
  Stream s;
  std::string expected;
  std::size_t next = 0;
  for (int round = 0; round < 200; ++round) {
    const std::string piece(static_cast<std::size_t>(round % 7), static_cast<char>('a' + round % 26));
    s.write(Chunk::copy_of(piece));
    expected += piece;
    if (round % 3 == 2) {
      Chunk c = s.read();
      EXPECT_EQ(c.view(), std::string_view(expected).substr(next, c.size()));
      next += c.size();
    }
    if (round % 5 == 4 && s.size() >= 3) {
      Stream head = s.read(3);
      EXPECT_EQ(head.to_string(), expected.substr(next, 3));
      next += 3;
    }
    ASSERT_EQ(s.size(), expected.size() - next);
  }
  EXPECT_EQ(s.to_string(), expected.substr(next));
}

TEST(Stream, ASingleChunkStreamGrowsAndShrinksThroughEveryOperation) {
  Stream s = Stream::copy_of("b");
  s.unread(Chunk::copy_of("a"));
  EXPECT_EQ(s.chunks(), 2u);
  EXPECT_EQ(s.to_string(), "ab");
  s.write(Chunk::copy_of("c"));
  EXPECT_EQ(texts(s), (std::vector<std::string>{"a", "b", "c"}));

  Stream one = Stream::copy_of("x");
  EXPECT_EQ(one.unwrite().view(), "x");
  EXPECT_TRUE(one.empty());
  EXPECT_EQ(one.chunks(), 0u);

  Stream two = Stream::copy_of("only");
  std::vector<Chunk> all = two.read_all();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].view(), "only");
  EXPECT_TRUE(two.empty());

  Stream three = Stream::copy_of("abc");
  Stream head = three.read(1);
  EXPECT_EQ(head.to_string(), "a");
  EXPECT_EQ(three.to_string(), "bc");
  EXPECT_EQ(three.peek().data(), head.peek().data() + 1);
}

TEST(Stream, AppendingSingleChunkStreamsKeepsBothChunks) {
  Stream a = Stream::copy_of("a");
  Stream b = Stream::copy_of("b");
  const std::byte* where = b.peek().data();
  a.append(std::move(b));
  EXPECT_EQ(a.chunks(), 2u);
  EXPECT_EQ(a.to_string(), "ab");
  EXPECT_EQ((a.begin() + 1)->data(), where);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)

  Stream empty;
  empty.append(std::move(a));
  EXPECT_EQ(empty.to_string(), "ab");
  a.write(Chunk::copy_of("again"));  // NOLINT(bugprone-use-after-move): append left it empty and usable
  EXPECT_EQ(a.to_string(), "again");
}

TEST(Stream, CopyAndKeepAliveWorkOnASingleChunk) {
  auto holder = std::make_shared<const std::string>("single borrowed chunk");
  Stream s = Stream::borrow(*holder);
  Stream c = s.copy();
  ASSERT_EQ(c.chunks(), 1u);
  EXPECT_EQ(c.peek().data(), s.peek().data());
  s.keep_alive(holder);
  EXPECT_TRUE(s.peek().owned());
  EXPECT_FALSE(c.peek().owned());  // the copy was taken before
  EXPECT_EQ(holder.use_count(), 2);
}

TEST(Stream, AMovedFromStreamIsEmptyAndReusable) {
  Stream s = Stream::copy_of("x");
  Stream t = std::move(s);
  EXPECT_TRUE(s.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(s.chunks(), 0u);
  s.write(Chunk::copy_of("y"));
  EXPECT_EQ(s.to_string(), "y");

  Stream many = abcdef();
  Stream u = std::move(many);
  EXPECT_TRUE(many.empty());  // NOLINT(bugprone-use-after-move)
  many = Stream::copy_of("z");
  EXPECT_EQ(many.to_string(), "z");
  EXPECT_EQ(u.to_string(), "abcdef");
}

// Random operations against a model (a deque of chunks, each with the address
// of its first byte): contents, counts and zero-copy hand-outs must agree.
TEST(Stream, RandomOperationsAgreeWithAModel) {
  struct ModelChunk {
    const std::byte* data;
    std::string text;
  };
  std::mt19937 rng(2024);
  for (int round = 0; round < 50; ++round) {
    Stream s;
    std::deque<ModelChunk> model;
    auto fresh = [&] {
      std::string text(rng() % 4 == 0 ? 0 : 1 + rng() % 9, 'a');
      for (char& ch : text) ch = static_cast<char>('a' + rng() % 26);
      return Chunk::copy_of(text);
    };
    for (int step = 0; step < 200; ++step) {
      switch (rng() % 9) {
        case 0:
        case 1: {
          Chunk c = fresh();
          model.push_back({c.data(), std::string(c.view())});
          s.write(c);
          break;
        }
        case 2: {
          Chunk c = fresh();
          model.push_front({c.data(), std::string(c.view())});
          s.unread(c);
          break;
        }
        case 3:
          if (model.empty()) {
            EXPECT_THROW((void)s.read(), std::out_of_range);
          } else {
            Chunk c = s.read();
            EXPECT_EQ(c.data(), model.front().data);
            EXPECT_EQ(c.view(), model.front().text);
            model.pop_front();
          }
          break;
        case 4:
          if (model.empty()) {
            EXPECT_THROW((void)s.unwrite(), std::out_of_range);
          } else {
            Chunk c = s.unwrite();
            EXPECT_EQ(c.data(), model.back().data);
            EXPECT_EQ(c.view(), model.back().text);
            model.pop_back();
          }
          break;
        case 5: {
          std::size_t total = 0;
          for (const auto& m : model) total += m.text.size();
          const std::size_t n = total == 0 ? 0 : rng() % (total + 1);
          Stream head = s.read(n);
          EXPECT_EQ(head.size(), n);
          std::string expected;
          std::size_t left = n;
          while (left > 0) {
            ModelChunk& front = model.front();
            if (front.text.size() <= left) {
              left -= front.text.size();
              expected += front.text;
              model.pop_front();
            } else {
              expected += front.text.substr(0, left);
              EXPECT_EQ((head.end() - 1)->data(), front.data);  // split, not copied
              front.data += left;
              front.text.erase(0, left);
              left = 0;
            }
          }
          EXPECT_EQ(head.to_string(), expected);
          break;
        }
        case 6: {
          Stream other;
          for (int k = static_cast<int>(rng() % 3); k > 0; --k) {
            Chunk c = fresh();
            model.push_back({c.data(), std::string(c.view())});
            other.write(c);
          }
          s.append(std::move(other));
          break;
        }
        case 7: {
          Stream c = s.copy();
          std::vector<Chunk> all = s.read_all();
          EXPECT_TRUE(s.empty());
          ASSERT_EQ(all.size(), model.size());
          for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].data(), model[i].data);
          s = std::move(c);  // the shallow copy takes its place
          break;
        }
        case 8:
          if (rng() % 10 == 0) {
            s.clear();
            model.clear();
          }
          break;
      }
      // The stream and the model agree after every step.
      ASSERT_EQ(s.chunks(), model.size()) << "round " << round << " step " << step;
      std::string all;
      std::size_t i = 0;
      for (const Chunk& c : s) {
        EXPECT_EQ(c.data(), model[i].data);
        EXPECT_EQ(c.view(), model[i].text);
        all += model[i++].text;
      }
      EXPECT_EQ(s.size(), all.size());
      EXPECT_EQ(s.empty(), model.empty());
      EXPECT_EQ(s.to_string(), all);
      ASSERT_FALSE(HasFailure()) << "round " << round << " step " << step;
    }
  }
}

}  // namespace
