// The one CUPTI subscriber of this process: subscribes, enables the graph callbacks and the
// GRAPH_TRACE activity, decodes callbacks into GraphTracker calls, and flushes GPU records from
// its own thread. Every way it can fail degrades to "counted without GPU time" or "off", says
// so once, and leaves the application alone.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "activity_buffers.h"
#include "cupti_coexistence.h"
#include "cupti_library.h"
#include "graph_tracker.h"

namespace profilemate::injection {

struct SessionOptions {
  uint32_t flush_interval_ms = 200;
  size_t activity_buffers = 8;
  size_t activity_buffer_bytes = 4u << 20;
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
  // In a forked child: CUPTI does not work there, and the parent's state is not ours.
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
  void enable_gpu_timing();
  void record_versions() const;
  void handle_api_call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const CUpti_CallbackData& data);
  void handle_fatal_error(const CUpti_StateData& state);
  void read_activity(uint8_t* buffer, size_t valid_size);
  void flush_loop();
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
  uint64_t cupti_dropped_total_ = 0;  // buffer-completion thread only

  std::atomic<bool> gpu_times_dropped_{false};
  std::unique_ptr<BufferTakeoverWatch> takeover_watch_;  // flush thread only

  std::mutex flush_mutex_;
  std::condition_variable flush_wake_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace profilemate::injection
