// A thread of ProfileMate's own that may get stuck inside CUPTI (a flush that never returns in a
// dying process): at exit it is waited for until a deadline and then let go, never joined without
// a limit, so the application's exit cannot hang on it.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <thread>

namespace profilemate::injection {

class BoundedThread {
 public:
  BoundedThread() = default;
  explicit BoundedThread(std::function<void()> body);
  BoundedThread(BoundedThread&&) = default;
  BoundedThread& operator=(BoundedThread&&) = default;
  ~BoundedThread();

  // True when the thread has ended by `deadline` (it is joined); false when it has not (it is
  // detached and left to run: what it touches must outlive the process's exit handlers).
  // True for a thread never started. The thread is released either way.
  bool join_until(std::chrono::steady_clock::time_point deadline);

 private:
  std::thread thread_;
  std::future<void> done_;
};

}  // namespace profilemate::injection
