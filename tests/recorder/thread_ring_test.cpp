#include "thread_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace profilemate::recorder {
namespace {

class ThreadRingTest : public ::testing::Test {
 protected:
  void SetUp() override { ring_.attach(memory_.data(), memory_.size()); }
  alignas(8) std::array<std::byte, 256> memory_{};
  ThreadRing ring_;
};

TEST_F(ThreadRingTest, ConsumesEntriesInOrderWithTheirKindAndBytes) {
  for (uint64_t value = 1; value <= 5; ++value)
    ASSERT_TRUE(ring_.push(static_cast<uint32_t>(value), &value, sizeof value));
  std::vector<uint64_t> seen;
  ring_.consume([&](uint32_t kind, const void* payload, uint32_t size) {
    ASSERT_EQ(size, sizeof(uint64_t));
    uint64_t value = 0;
    std::memcpy(&value, payload, size);
    EXPECT_EQ(kind, value);
    seen.push_back(value);
  });
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(ring_.empty());
}

TEST_F(ThreadRingTest, RejectsAnEntryThatDoesNotFitAndKeepsTheOthers) {
  const std::array<char, 40> payload{};  // 48 bytes with the entry header
  int accepted = 0;
  while (ring_.push(7, payload.data(), payload.size())) ++accepted;
  EXPECT_EQ(accepted, 256 / 48);
  EXPECT_EQ(ring_.consume([](uint32_t, const void*, uint32_t) {}), static_cast<uint64_t>(accepted));
}

TEST_F(ThreadRingTest, WrapsAroundTheEndWithoutSplittingAnEntry) {
  const std::array<char, 40> payload{};
  for (int round = 0; round < 50; ++round) {
    ASSERT_TRUE(ring_.push(1, payload.data(), payload.size())) << "round " << round;
    ASSERT_TRUE(ring_.push(2, payload.data(), 24)) << "round " << round;
    std::vector<uint32_t> kinds;
    ring_.consume([&](uint32_t kind, const void*, uint32_t) { kinds.push_back(kind); });
    ASSERT_EQ(kinds, (std::vector<uint32_t>{1, 2})) << "round " << round;
  }
}

TEST(ThreadRingConcurrency, OneProducerOneConsumerLoseNothingThatWasAccepted) {
  alignas(8) static std::array<std::byte, 4096> memory{};
  ThreadRing ring;
  ring.attach(memory.data(), memory.size());
  constexpr uint64_t kCount = 200'000;
  std::atomic<bool> done{false};
  std::vector<uint64_t> accepted;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount; ++i) {
      if (ring.push(1, &i, sizeof i)) accepted.push_back(i);
    }
    done.store(true);
  });
  std::vector<uint64_t> consumed;
  const auto take = [&] {
    ring.consume([&](uint32_t, const void* payload, uint32_t) {
      uint64_t value = 0;
      std::memcpy(&value, payload, sizeof value);
      consumed.push_back(value);
    });
  };
  while (!done.load()) take();
  producer.join();
  take();
  EXPECT_EQ(consumed, accepted);
  EXPECT_GT(consumed.size(), 0u);
}

}  // namespace
}  // namespace profilemate::recorder
