#include "activity_buffers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace profilemate::injection {
namespace {

using std::chrono::steady_clock;
const auto kNeeded = [] { return true; };

TEST(ActivityBuffers, AllLentOutDeclinesTheNextRequestAndCountsIt) {
  ActivityBuffers pool(2, 64);
  uint8_t* first = pool.acquire();
  uint8_t* second = pool.acquire();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first, second);
  EXPECT_EQ(pool.acquire(), nullptr);
  EXPECT_EQ(pool.declined(), 1u);
  EXPECT_EQ(pool.handovers().lent, 2u);
  pool.release(first);
  EXPECT_EQ(pool.acquire(), first) << "a released buffer is lent again";
}

TEST(ActivityBuffers, ABufferThePoolDidNotLendIsIgnored) {
  ActivityBuffers pool(1, 64);
  uint8_t* lent = pool.acquire();
  uint64_t foreign[8] = {};
  pool.release(reinterpret_cast<uint8_t*>(foreign));
  pool.release(nullptr);
  EXPECT_EQ(pool.handovers().lent, 1u);
  EXPECT_EQ(pool.acquire(), nullptr) << "the foreign buffer did not join the pool";
  pool.release(lent);
  pool.release(lent);  // twice: the second is not a return
  EXPECT_EQ(pool.handovers().lent, 0u);
  EXPECT_NE(pool.acquire(), nullptr);
  EXPECT_EQ(pool.acquire(), nullptr) << "the twice-released buffer is in the pool once";
}

TEST(ActivityBuffers, TheWaitForBuffersOwedBackEndsWhenTheLastOneComesBack) {
  ActivityBuffers pool(3, 64);
  uint8_t* early = pool.acquire();
  const uint64_t owed_before = pool.next_lend();
  uint8_t* later = pool.acquire();  // lent after the flush: not owed
  ASSERT_NE(later, nullptr);
  EXPECT_FALSE(pool.wait_returned(owed_before, steady_clock::now(), kNeeded))
      << "the early buffer is still out";
  std::thread worker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pool.handed_back(early);
    pool.release(early);
  });
  EXPECT_TRUE(pool.wait_returned(owed_before, steady_clock::now() + std::chrono::minutes(1), kNeeded));
  EXPECT_EQ(pool.handovers().lent, 1u) << "only the later buffer is still out";
  worker.join();
}

TEST(ActivityBuffers, WithNothingOwedOnlyABufferBeingReadIsWaitedFor) {
  ActivityBuffers pool(2, 64);
  uint8_t* kept = pool.acquire();
  ASSERT_NE(kept, nullptr);
  EXPECT_TRUE(pool.wait_returned(0, steady_clock::now(), kNeeded))
      << "a buffer CUPTI keeps is not waited for";
  pool.handed_back(kept);
  EXPECT_FALSE(pool.wait_returned(0, steady_clock::now(), kNeeded)) << "its records are being read";
  pool.release(kept);
  EXPECT_TRUE(pool.wait_returned(0, steady_clock::now(), kNeeded));
}

TEST(ActivityBuffers, BuffersOwedBackAreNotWaitedForOnceNothingNeedsThemButOneBeingReadIs) {
  ActivityBuffers pool(2, 64);
  uint8_t* kept = pool.acquire();  // CUPTI keeps it: nothing of ours in it
  const uint64_t owed_before = pool.next_lend();
  ASSERT_NE(kept, nullptr);
  const auto nothing_awaited = [] { return false; };
  EXPECT_TRUE(pool.wait_returned(owed_before, steady_clock::now(), nothing_awaited));
  pool.handed_back(kept);
  EXPECT_FALSE(pool.wait_returned(owed_before, steady_clock::now(), nothing_awaited))
      << "its records are being read";
}

}  // namespace
}  // namespace profilemate::injection
