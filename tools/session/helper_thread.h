// Jobs run in order on a thread of their own: how a conversion puts its machine's second core to
// work, overlapping two stages (reading a log and collecting its rows; formatting a block of CSV
// and the kernel's copying of the previous one), or handing off work nobody waits for at once.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
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
  // Runs the jobs still queued, then stops (what they throw is dropped: the owner is failing
  // already, or nobody waits for them).
  ~HelperThread();

  // Queues `job` after the others, without waiting; drops it while a job's error has not been
  // taken by wait() (the jobs after a failed one are never run, however they raced it).
  void post(std::function<void()> job);
  // Waits for every job before, rethrowing what one threw, then queues `job`.
  void start(std::function<void()> job) {
    wait();
    post(std::move(job));
  }
  // Waits until at most `pending` jobs are queued or running; rethrows what a job threw. Once a
  // job has thrown, the jobs queued or posted after it are dropped until then.
  void wait(size_t pending = 0);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> jobs_;  // queued, not yet running
  bool running_ = false;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

}  // namespace profilemate::exporter
