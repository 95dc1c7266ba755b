// The CUDA graph life cycle, kept apart from CUPTI: capture, instantiate, launch, and the join of
// each launch with its GPU execution record. The CUPTI session feeds it plain ids and times;
// it emits GraphCapture, GraphInstantiate, GraphExecEvent and GraphReplay records.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "profilemate/recorder.h"

namespace profilemate::injection {

// Where records go: pm_record in the library, a capturing function in unit tests.
using RecordFn = int (*)(uint32_t kind, const void* event);

struct GraphTrackerLimits {
  // Launches waiting for their GPU record; beyond this the oldest is written without GPU time.
  size_t max_pending_launches = 1 << 16;
  // A launch whose GPU record has not come after this long is written without GPU time.
  uint64_t gpu_record_timeout_ns = 5'000'000'000;
};

class GraphTracker {
 public:
  explicit GraphTracker(RecordFn record = pm_record, GraphTrackerLimits limits = {});

  // When GPU records will not come (no activity API), launches are written at once.
  void set_gpu_timing(bool enabled) { gpu_timing_ = enabled; }

  // Times are log times (pm_now, pm_log_time). `stream` is the stream handle's value.
  void capture_begin(uint64_t stream, uint32_t stream_id, uint32_t mode, uint64_t t_ns);
  void capture_end(uint64_t stream, uint32_t graph_id, uint32_t node_count, bool ok, uint64_t t_ns);
  void instantiate(uint32_t graph_id, uint32_t exec_id, uint64_t flags, uint64_t begin_ns, uint64_t end_ns,
                   int32_t result);
  void exec_event(profilemate_GraphExecEvent_Op op, uint32_t exec_id, uint32_t stream_id, uint64_t begin_ns,
                  uint64_t end_ns, int32_t result);
  void launch(uint32_t correlation_id, uint32_t exec_id, uint32_t stream_id, uint64_t enter_ns,
              uint64_t exit_ns);
  // A GPU execution record (CUPTI's GraphTrace), in log time; may come before or after its launch.
  void gpu_execution(uint32_t correlation_id, uint64_t start_ns, uint64_t end_ns);
  // Writes launches whose GPU record is overdue (all of them when `everything`).
  void expire(uint64_t now_ns, bool everything);

  struct Counters {
    uint64_t replays_with_gpu = 0;
    uint64_t replays_without_gpu = 0;
    uint64_t unmatched_gpu_records = 0;
  };
  Counters counters() const;

 private:
  void write_replay(profilemate_GraphReplay& replay, bool with_gpu);
  void pop_oldest_locked();

  RecordFn record_;
  GraphTrackerLimits limits_;
  bool gpu_timing_ = true;

  std::mutex captures_mutex_;
  struct OpenCapture {
    profilemate_GraphCapture capture;
    uint64_t nvtx_range = 0;
  };
  std::unordered_map<uint64_t, OpenCapture> open_captures_;  // by stream handle

  mutable std::mutex launches_mutex_;
  std::unordered_map<uint32_t, profilemate_GraphReplay> pending_;  // by correlation id
  std::deque<uint32_t> arrival_;  // correlation ids, oldest first (joined ones are skipped lazily)
  std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> early_gpu_;  // GPU record before its launch
  std::atomic<uint64_t> replays_with_gpu_{0};
  std::atomic<uint64_t> replays_without_gpu_{0};
  std::atomic<uint64_t> unmatched_gpu_records_{0};
};

}  // namespace profilemate::injection
