// PutQueue: order, every kind of Stream, swap, and owners released.
#include "core/put_queue.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace {

using netqueue::Chunk;
using netqueue::Stream;
using netqueue::detail::PutQueue;

TEST(PutQueue, KeepsOrderAcrossManyBlocks) {
  PutQueue q;
  std::vector<std::string> texts;
  for (int i = 0; i < 1000; ++i) texts.push_back("message " + std::to_string(i));
  for (const auto& t : texts) q.push(Stream::borrow(t));
  EXPECT_EQ(q.size(), texts.size());
  for (const auto& t : texts) {
    ASSERT_FALSE(q.empty());
    EXPECT_EQ(q.pop().to_string(), t);
  }
  EXPECT_TRUE(q.empty());
}

TEST(PutQueue, InterleavedPushesAndPopsStayInOrder) {
  PutQueue q;
  int pushed = 0, popped = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round * 7; ++i) q.push(Stream::copy_of(std::to_string(pushed++)));
    for (int i = 0; i < round * 5 && !q.empty(); ++i) EXPECT_EQ(q.pop().to_string(), std::to_string(popped++));
  }
  while (!q.empty()) EXPECT_EQ(q.pop().to_string(), std::to_string(popped++));
  EXPECT_EQ(popped, pushed);
}

TEST(PutQueue, KeepsStreamsOfManyChunksAndEmptyOnes) {
  PutQueue q;
  Stream many;
  many.write(Chunk::copy_of("one "));
  many.write(Chunk::copy_of("two "));
  many.write(Chunk::copy_of("three"));
  q.push(Stream::copy_of("before"));
  q.push(std::move(many));
  q.push(Stream());
  q.push(Stream::copy_of(""));
  q.push(Stream::copy_of("after"));
  EXPECT_EQ(q.pop().to_string(), "before");
  Stream back = q.pop();
  EXPECT_EQ(back.chunks(), 3u);
  EXPECT_EQ(back.to_string(), "one two three");
  EXPECT_EQ(q.pop().size(), 0u);
  EXPECT_EQ(q.pop().size(), 0u);
  EXPECT_EQ(q.pop().to_string(), "after");
  EXPECT_TRUE(q.empty());
}

TEST(PutQueue, SwapExchangesContents) {
  PutQueue a, b;
  for (int i = 0; i < 300; ++i) a.push(Stream::copy_of(std::to_string(i)));
  b.push(Stream::copy_of("b"));
  a.swap(b);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 300u);
  EXPECT_EQ(a.pop().to_string(), "b");
  for (int i = 0; i < 300; ++i) EXPECT_EQ(b.pop().to_string(), std::to_string(i));
  // Both stay usable after being emptied.
  a.push(Stream::copy_of("again"));
  EXPECT_EQ(a.pop().to_string(), "again");
}

TEST(PutQueue, ReleasesWhatItHoldsWhenPoppedClearedOrDestroyed) {
  auto owner = std::make_shared<std::string>("owned bytes");
  const auto chunk = [&] { return Chunk::adopt(owner, std::as_bytes(std::span(*owner))); };
  {
    PutQueue q;
    for (int i = 0; i < 200; ++i) q.push(Stream(chunk()));
    Stream many(chunk());
    many.write(chunk());
    q.push(std::move(many));
    EXPECT_EQ(owner.use_count(), 1 + 202);
    q.pop();
    EXPECT_EQ(owner.use_count(), 1 + 201);
    q.clear();
    EXPECT_EQ(owner.use_count(), 1);
    for (int i = 0; i < 10; ++i) q.push(Stream(chunk()));
  }
  EXPECT_EQ(owner.use_count(), 1) << "a destroyed queue kept its messages' memory";
}

}  // namespace
