// BlockQueue: order across blocks of growing size, what a deep queue costs
// per element, and what it keeps once drained.
#include "core/block_queue.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>

namespace {

using netqueue::detail::BlockQueue;

// 32-byte elements, as PutQueue's; blocks of 128 to 2048 of them (4 to 64 KiB).
struct Element {
  std::size_t value = 0;
  std::size_t padding[3] = {};
};
using Queue = BlockQueue<Element, 128, 2048>;

// A small block: its header and 128 elements.
constexpr std::size_t small_block = 16 + 128 * sizeof(Element);

TEST(BlockQueue, KeepsOrderWhileItsBlocksGrowAndShrink) {
  Queue q;
  std::size_t pushed = 0, popped = 0;
  for (int round = 0; round < 40; ++round) {
    // Depths from a few elements to tens of thousands, and back.
    const std::size_t burst = round < 20 ? std::size_t(1) << (round % 16) : 7;
    for (std::size_t i = 0; i < burst; ++i) q.push_back(Element{pushed++});
    for (std::size_t i = 0; i < burst / 2 + 1 && !q.empty(); ++i) {
      ASSERT_EQ(q.front().value, popped++);
      q.pop_front();
    }
  }
  while (!q.empty()) {
    ASSERT_EQ(q.front().value, popped++);
    q.pop_front();
  }
  EXPECT_EQ(popped, pushed);
}

TEST(BlockQueue, ADeepQueueCostsItsElementsAndLittleMore) {
  Queue q;
  constexpr std::size_t n = 1'000'000;
  for (std::size_t i = 0; i < n; ++i) q.push_back(Element{i});
  const double per_element = double(q.reserved_bytes()) / double(n);
  EXPECT_GE(per_element, double(sizeof(Element)));
  EXPECT_LE(per_element, sizeof(Element) * 1.005) << "block headers and the last block's room";
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_EQ(q.front().value, i);
    q.pop_front();
  }
}

TEST(BlockQueue, ADrainedQueueKeepsAtMostTwoSmallBlocks) {
  Queue q;
  for (std::size_t i = 0; i < 100'000; ++i) q.push_back(Element{i});
  EXPECT_GT(q.reserved_bytes(), std::size_t(3'000'000));
  while (!q.empty()) q.pop_front();
  EXPECT_LE(q.reserved_bytes(), 2 * small_block) << "large blocks are freed once emptied";
  // Usable again, from a small block.
  q.push_back(Element{7});
  EXPECT_EQ(q.front().value, 7u);
  EXPECT_LE(q.reserved_bytes(), 2 * small_block);
}

TEST(BlockQueue, AShallowSteadyFlowStaysInSmallBlocks) {
  Queue q;
  for (std::size_t i = 0; i < 10; ++i) q.push_back(Element{i});
  for (std::size_t i = 10; i < 100'000; ++i) {
    q.push_back(Element{i});
    q.pop_front();
    ASSERT_LE(q.reserved_bytes(), 2 * small_block) << "after " << i << " pushes";
  }
  EXPECT_EQ(q.size(), 10u);
}

TEST(BlockQueue, DestroysWhatItHolds) {
  auto owner = std::make_shared<int>(1);
  {
    BlockQueue<std::shared_ptr<int>, 4, 16> q;
    for (int i = 0; i < 100; ++i) q.push_back(std::shared_ptr<int>(owner));
    for (int i = 0; i < 30; ++i) q.pop_front();
    EXPECT_EQ(owner.use_count(), 71);
  }
  EXPECT_EQ(owner.use_count(), 1);
}

TEST(BlockQueue, SwapExchangesContentsAndBlocks) {
  Queue a, b;
  for (std::size_t i = 0; i < 5000; ++i) a.push_back(Element{i});
  b.push_back(Element{42});
  const std::size_t a_bytes = a.reserved_bytes(), b_bytes = b.reserved_bytes();
  a.swap(b);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(b.size(), 5000u);
  EXPECT_EQ(a.reserved_bytes(), b_bytes);
  EXPECT_EQ(b.reserved_bytes(), a_bytes);
  EXPECT_EQ(a.front().value, 42u);
  EXPECT_EQ(b.front().value, 0u);
}

}  // namespace
