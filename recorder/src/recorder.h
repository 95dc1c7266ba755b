// The process-wide recorder behind the C ABI: thread buffers, the writer thread, and the
// life cycle (start, stop, exit, signals, fork).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "config.h"
#include "log_file.h"
#include "thread_ring.h"
#include "unique_fd.h"

namespace profilemate::recorder {

class Recorder {
 public:
  static Recorder& instance();

  int start();
  void stop();
  [[nodiscard]] bool active() const { return state_.load(std::memory_order_acquire) == State::kOn; }
  int record(uint32_t kind, const void* event);
  [[nodiscard]] uint64_t now() const;
  [[nodiscard]] uint64_t log_time(uint64_t realtime_ns) const;
  [[nodiscard]] uint32_t flush_interval_ms() const;
  uint32_t thread_index();
  // pm_set_thread_waits: returns the previous setting.
  static bool set_thread_waits(bool waits);
  int flush(uint32_t timeout_ms);
  [[nodiscard]] const char* session_dir() const;
  [[nodiscard]] const char* log_path() const;

  // From a SIGTERM/SIGINT handler: asks the writer for a flush and waits a bounded time.
  void flush_from_signal();

  Recorder() = default;
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

 private:
  enum class State : int { kOff, kOn, kStopped, kFailed, kForkPending };
  enum SlotState : uint32_t { kFree, kClaiming, kActive, kRetired };

  struct Slot {
    std::atomic<uint32_t> state{kFree};
    uint32_t index = 0;
    uint32_t tid = 0;
    char name[16] = {};
    std::atomic<uint64_t> dropped{0};        // written by the owning thread only
    std::atomic<uint64_t> wait_timeouts{0};  // written by the owning thread only
    bool wait_gave_up = false;               // owning thread only: drop without waiting
    ThreadRing ring;
    // Writer thread only.
    bool announced = false;
    uint64_t dropped_reported = 0;
    uint64_t wait_timeouts_reported = 0;
  };
  struct RingMemory {
    void* base = nullptr;
    size_t bytes = 0;
    ~RingMemory();
  };
  struct ThreadExit;
  static thread_local Slot* t_slot_;
  static thread_local uint64_t t_generation_;
  static thread_local bool t_exiting_;
  static thread_local bool t_waits_;

  int ensure_running();  // slow path of every entry point
  int start_locked();
  void stop_locked();
  Slot* bind_thread();
  Slot* claim_slot();
  void reset_slots();
  int record_when_full(Slot& slot, uint32_t kind, const void* event, uint32_t size);
  void wake_writer();
  void request_flush_and_wait(uint32_t timeout_ms);
  void on_fork_child();

  static void* writer_entry(void* self);
  void writer_main();
  void drain();
  void write_header();
  void write_clock_sync();
  void write_dropped(uint32_t thread, int reason, uint64_t total);
  // Writes the counter's total when it changed since `reported`.
  void report_dropped(uint32_t thread, int reason, const std::atomic<uint64_t>& counter, uint64_t& reported);

  std::mutex lifecycle_;
  // Held by the writer while it works between its waits, and by fork (pthread_atfork): a child
  // never inherits a lock the writer held mid-work (an allocator's, where the allocator has no
  // fork handlers of its own, as AddressSanitizer's has not).
  std::mutex writer_busy_;
  std::atomic<State> state_{State::kOff};
  std::atomic<uint64_t> generation_{0};
  uint64_t base_realtime_ns_ = 0;
  uint64_t base_monotonic_ns_ = 0;
  Config config_;
  bool process_hooks_installed_ = false;

  RingMemory ring_memory_;
  std::unique_ptr<Slot[]> slots_;
  uint32_t slot_count_ = 0;
  std::atomic<uint32_t> next_thread_index_{1};
  std::atomic<uint64_t> no_slot_drops_{0};
  uint64_t no_slot_reported_ = 0;

  std::string session_id_;
  std::unique_ptr<LogFile> log_;
  UniqueFd wake_fd_;
  pthread_t writer_{};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> writer_running_{false};  // the writer thread has started running its own code
  std::atomic<bool> wake_pending_{false};
  std::atomic<uint64_t> flush_requested_{0};
  std::atomic<uint64_t> flush_done_{0};
};

}  // namespace profilemate::recorder
