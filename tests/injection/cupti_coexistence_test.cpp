#include "cupti_coexistence.h"

#include <gtest/gtest.h>

namespace profilemate::injection {
namespace {

constexpr uint64_t kNow = 1'750'000'000'000'000'000;  // a CLOCK_REALTIME reading, ns
constexpr uint64_t kMs = 1'000'000;

TEST(CuptiClock, CuptisDefaultClockMatchesRealtimeReadAroundIt) {
  EXPECT_TRUE(cupti_clock_is_realtime(kNow, kNow + 300, kNow + 600));
  EXPECT_TRUE(cupti_clock_is_realtime(kNow, kNow - 5 * kMs, kNow + 1));  // within the tolerance
  EXPECT_TRUE(cupti_clock_is_realtime(kNow, kNow + 50 * kMs, kNow + 45 * kMs)) << "the reader was preempted";
}

TEST(CuptiClock, ATscOrMonotonicClockDoesNotMatch) {
  constexpr uint64_t tsc = 3'000'000'000ull * 86'400;  // a 3 GHz TSC a day after boot
  EXPECT_FALSE(cupti_clock_is_realtime(kNow, tsc, kNow + 600));
  EXPECT_FALSE(cupti_clock_is_realtime(kNow, kNow + 11 * kMs, kNow + 600));
  EXPECT_FALSE(cupti_clock_is_realtime(kNow, kNow - 11 * kMs, kNow + 600));
}

TEST(CuptiClock, GpuTimesBeforeTheSessionAreNotInCuptisDefaultClock) {
  EXPECT_TRUE(gpu_times_in_session(100, 200));
  EXPECT_TRUE(gpu_times_in_session(100, 100));
  EXPECT_FALSE(gpu_times_in_session(0, 200)) << "before the session (a TSC converts to 0)";
  EXPECT_FALSE(gpu_times_in_session(0, 0));
  EXPECT_FALSE(gpu_times_in_session(200, 100)) << "ends before it starts";
}

TEST(BufferTakeoverWatch, ReplaysExpiringBeyondWhatOurLentBuffersHoldMeanTheBuffersWentElsewhere) {
  BufferTakeoverWatch watch(/*records_per_buffer=*/100);
  EXPECT_FALSE(watch.taken_over(/*handovers=*/4, /*expired=*/0, /*lent=*/1));
  EXPECT_FALSE(watch.taken_over(4, 150, 1));
  EXPECT_FALSE(watch.taken_over(4, 200, 1)) << "two buffers' worth: ours could still hold them";
  EXPECT_TRUE(watch.taken_over(4, 201, 1));
  EXPECT_EQ(watch.expired_since_handover(), 201u);
}

TEST(BufferTakeoverWatch, ABufferHandedOverStartsTheCountAgain) {
  BufferTakeoverWatch watch(100);
  EXPECT_FALSE(watch.taken_over(1, 150, 0));
  EXPECT_FALSE(watch.taken_over(2, 150, 0)) << "a handover: late records, not another client";
  EXPECT_FALSE(watch.taken_over(2, 250, 0));
  EXPECT_TRUE(watch.taken_over(2, 251, 0));
  EXPECT_EQ(watch.expired_since_handover(), 101u);
}

TEST(BufferTakeoverWatch, MoreBuffersLentMeanMoreRoomBeforeConcluding) {
  BufferTakeoverWatch watch(100);
  EXPECT_FALSE(watch.taken_over(0, 800, 7));
  EXPECT_TRUE(watch.taken_over(0, 801, 7));
}

}  // namespace
}  // namespace profilemate::injection
