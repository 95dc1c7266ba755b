// One job at a time on a thread of its own: how a conversion puts its machine's second core to
// work, overlapping two stages (reading a log and collecting its rows; formatting a block of CSV
// and the kernel's copying of the previous one).
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace profilemate::exporter {

class HelperThread {
 public:
  HelperThread();
  HelperThread(const HelperThread&) = delete;
  HelperThread& operator=(const HelperThread&) = delete;
  // Waits for the job in flight (what it throws is dropped: the owner is failing already).
  ~HelperThread();

  // Waits for the previous job, rethrowing what it threw, then starts `job`.
  void start(std::function<void()> job);
  // Waits for the job in flight; rethrows what it threw.
  void wait();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::function<void()> job_;  // empty when idle
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace profilemate::exporter
