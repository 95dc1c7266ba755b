#include "helper_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
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
  std::atomic<int> ran_after{0};
  HelperThread helper;
  std::promise<void> go;
  helper.post([ready = go.get_future().share()] {
    ready.wait();
    throw std::runtime_error("the job failed");
  });
  helper.post([&] { ++ran_after; });  // queued while the failing job runs
  go.set_value();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // failed by now, as a rule
  helper.post([&] { ++ran_after; });                           // posted after the failure
  EXPECT_THROW(helper.wait(), std::runtime_error);
  helper.wait();  // the error was taken: now until nothing is left
  EXPECT_EQ(ran_after.load(), 0) << "a job queued or posted after a failed one still ran";
  helper.start([&] { ran_after = 10; });  // the error was taken: the thread goes on
  helper.wait();
  EXPECT_EQ(ran_after.load(), 10);
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
