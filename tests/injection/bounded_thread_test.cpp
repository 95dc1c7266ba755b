#include "bounded_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

namespace profilemate::injection {
namespace {

TEST(BoundedThread, AThreadThatEndsIsJoined) {
  std::atomic<int> ran{0};
  BoundedThread thread([&] { ran = 1; });
  EXPECT_TRUE(thread.join_until(std::chrono::steady_clock::now() + std::chrono::minutes(1)));
  EXPECT_EQ(ran.load(), 1);
  EXPECT_TRUE(thread.join_until(std::chrono::steady_clock::now())) << "released: nothing left to wait for";
}

TEST(BoundedThread, AThreadStillRunningAtTheDeadlineIsLetGo) {
  // Shared with the thread: it outlives this test's frame, as a detached thread may.
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  BoundedThread thread([released] { released.wait(); });
  EXPECT_FALSE(thread.join_until(std::chrono::steady_clock::now())) << "a deadline already passed";
  release->set_value();
  EXPECT_TRUE(thread.join_until(std::chrono::steady_clock::now())) << "detached: nothing left to wait for";
}

TEST(BoundedThread, OneNeverStartedHasNothingToWaitFor) {
  BoundedThread thread;
  EXPECT_TRUE(thread.join_until(std::chrono::steady_clock::now()));
}

}  // namespace
}  // namespace profilemate::injection
