#include "helper_thread.h"

#include <utility>

namespace profilemate::exporter {

HelperThread::HelperThread() : thread_([this] { run(); }) {}

HelperThread::~HelperThread() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void HelperThread::post(std::function<void()> job) {
  {
    const std::lock_guard lock(mutex_);
    if (error_) return;
    jobs_.push_back(std::move(job));
  }
  changed_.notify_all();
}

void HelperThread::wait(size_t pending) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return jobs_.size() + (running_ ? 1 : 0) <= pending || error_; });
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void HelperThread::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    running_ = true;
    lock.unlock();
    std::exception_ptr error;
    try {
      job();
    } catch (...) {
      error = std::current_exception();
    }
    job = nullptr;  // what it holds goes before anyone learns it is done
    lock.lock();
    running_ = false;
    if (error) {
      error_ = error;
      jobs_.clear();
    }
    changed_.notify_all();
  }
}

}  // namespace profilemate::exporter
