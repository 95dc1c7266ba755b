#include "bounded_thread.h"

namespace profilemate::injection {

BoundedThread::BoundedThread(std::function<void()> body) {
  std::promise<void> done;
  done_ = done.get_future();
  thread_ = std::thread([body = std::move(body), done = std::move(done)]() mutable {
    body();
    done.set_value();
  });
}

BoundedThread::~BoundedThread() {
  // Never an unbounded join: a thread nobody waited for is let go.
  if (thread_.joinable()) thread_.detach();
}

bool BoundedThread::join_until(std::chrono::steady_clock::time_point deadline) {
  if (!thread_.joinable()) return true;
  if (done_.wait_until(deadline) == std::future_status::ready) {
    thread_.join();
    return true;
  }
  thread_.detach();
  return false;
}

}  // namespace profilemate::injection
