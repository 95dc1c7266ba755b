#include "helper_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <vector>

namespace profilemate::exporter {
namespace {

TEST(HelperThread, RunsPostedJobsInOrderWithoutMakingThePosterWait) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<int> order;
  HelperThread helper;
  helper.post([released] { released.wait(); });  // holds the thread until released
  for (int i = 0; i < 5; ++i) helper.post([&order, i] { order.push_back(i); });
  EXPECT_TRUE(order.empty()) << "a job ran before the one ahead of it finished";
  release.set_value();
  helper.wait();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(HelperThread, WaitReturnsOnceNoMoreThanTheGivenNumberOfJobsAreLeft) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> done{0};
  HelperThread helper;
  helper.post([released] { released.wait(); });
  helper.post([&] { ++done; });
  helper.post([&] { ++done; });
  auto waited = std::async(std::launch::async, [&] { helper.wait(2); });
  EXPECT_EQ(waited.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "three jobs were left, and the wait allowed two";
  release.set_value();
  waited.get();
  helper.wait();
  EXPECT_EQ(done.load(), 2);
}

TEST(HelperThread, AJobThatThrowsDropsTheJobsAfterItAndTheWaitRethrows) {
  bool ran_after = false;
  HelperThread helper;
  helper.post([] { throw std::runtime_error("the job failed"); });
  helper.post([&] { ran_after = true; });
  EXPECT_THROW(helper.wait(), std::runtime_error);
  EXPECT_FALSE(ran_after) << "a job queued after a failed one still ran";
  helper.start([&] { ran_after = true; });  // the error was taken: the thread goes on
  helper.wait();
  EXPECT_TRUE(ran_after);
}

TEST(HelperThread, EndsOnlyAfterTheJobsStillQueued) {
  std::atomic<int> done{0};
  {
    HelperThread helper;
    for (int i = 0; i < 100; ++i) helper.post([&] { ++done; });
  }
  EXPECT_EQ(done.load(), 100);
}

}  // namespace
}  // namespace profilemate::exporter
