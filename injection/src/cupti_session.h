// The one CUPTI subscriber of this process: subscribes, enables the graph callbacks and the
// GRAPH_TRACE activity, decodes callbacks into GraphTracker calls, and flushes GPU records from
// its own thread. Every way it can fail degrades to "counted without GPU time" or "off", says
// so once, and leaves the application alone.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "activity_buffers.h"
#include "bounded_thread.h"
#include "cupti_coexistence.h"
#include "cupti_library.h"
#include "graph_tracker.h"

namespace profilemate::injection {

struct SessionOptions {
  uint32_t flush_interval_ms = 200;
  // CUPTI hands a buffer back only once every record in it is complete, and keeps one per
  // launching thread: under a steady load a buffer comes back only when full. 256 KiB holds
  // 4,681 GraphTrace records (56 bytes), filled within the GPU-record timeout at 1,000 launches
  // a second per thread; 32 of them (8 MiB) are enough for many threads and a burst.
  size_t activity_buffers = 32;
  size_t activity_buffer_bytes = 256u << 10;
  uint32_t gpu_record_timeout_ms = 5000;
  // Every wait at exit together (the flush thread, CUPTI's forced flush) takes at most this long.
  uint32_t exit_flush_timeout_ms = 2000;
};

class CuptiSession {
 public:
  // CUPTI takes plain function pointers: the session is process-wide.
  static CuptiSession& instance();

  // Loads CUPTI and subscribes; every failure is reported and leaves the session inert.
  void start(const SessionOptions& options);
  // Flushes GPU records (bounded in time) and writes every launch still waiting. Idempotent.
  void stop();
  // In a forked child: CUPTI does not work there, and the parent's state is not ours; a later
  // start() there says so and does nothing.
  void abandon_after_fork();

  [[nodiscard]] bool tracing() const { return tracing_.load(std::memory_order_acquire); }
  [[nodiscard]] bool gpu_timing() const { return gpu_timing_; }
  GraphTracker& tracker() { return tracker_; }

 private:
  static void CUPTIAPI on_callback(void* userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                   const void* cbdata);
  static void CUPTIAPI on_buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records);
  static void CUPTIAPI on_buffer_completed(CUcontext context, uint32_t stream_id, uint8_t* buffer,
                                           size_t size, size_t valid_size);

  bool subscribe();
  // False when CUPTI refused every graph callback (then unsubscribed, and said so).
  bool enable_callbacks();
  void enable_gpu_timing();
  void record_versions() const;
  void handle_api_call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const CUpti_CallbackData& data);
  void handle_fatal_error(const CUpti_StateData& state);
  void read_activity(uint8_t* buffer, size_t valid_size);
  void flush_loop();
  // A GpuRecordStats record when the counts changed since the last one (flush thread, exit).
  void write_gpu_record_stats();
  uint32_t stream_id(CUcontext context, CUstream stream, bool per_thread) const;

  // Another CUPTI client in the process (see cupti_coexistence.h): checked at start and at every
  // flush; either finding drops GPU times from then on, said once.
  void check_cupti_clock();
  void check_buffer_takeover();
  void drop_gpu_times(const std::string& why);

  SessionOptions options_;
  CuptiLibrary cupti_;
  CUpti_SubscriberHandle subscriber_ = nullptr;
  GraphTracker tracker_;
  std::unique_ptr<ActivityBuffers> buffers_;
  std::atomic<bool> tracing_{false};
  std::atomic<bool> stopped_{false};
  bool gpu_timing_ = false;
  // CUPTI may run the buffer-completion callback on its worker and on a flushing thread at once.
  std::atomic<uint64_t> cupti_dropped_total_{0};
  bool forked_ = false;  // this is a forked child: the session's state is the parent's copy

  std::mutex stats_mutex_;  // the exit and a flush thread let go at exit may both write
  GraphTracker::Counters last_stats_;
  uint64_t last_declined_ = 0;

  std::atomic<bool> gpu_times_dropped_{false};
  std::unique_ptr<BufferTakeoverWatch> takeover_watch_;  // flush thread only

  std::mutex flush_mutex_;
  std::condition_variable flush_wake_;
  bool stopping_ = false;
  BoundedThread flusher_;
};

}  // namespace profilemate::injection
