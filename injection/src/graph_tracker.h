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
  // Each takes 32 bytes while it waits (PendingLaunch), so the default holds 64 MiB at most: room
  // for a million launches in flight (one CUPTI delivery of a million GPU records joins whole),
  // and for 5 s of a GPU's fastest launch rate (about 200 k/s) while GPU records are overdue.
  size_t max_pending_launches = 1 << 21;
  // GPU records that came before their launch's EXIT callback (a flush in between): rare.
  size_t max_early_gpu_records = 1 << 16;
  // A launch whose GPU record has not come after this long is written without GPU time.
  uint64_t gpu_record_timeout_ns = 5'000'000'000;
  // Launches written without GPU time whose GPU record may still come: CUPTI hands over a buffer
  // only once every record in it is complete, so under a steady load a buffer may come only when
  // full, after the timeout. Their correlation ids are remembered (8 bytes each, 1 MiB at most)
  // for this long, the newest this many (the log format's window), and a late GPU record is
  // written as a GraphReplayGpuTime that readers join to the replay.
  uint64_t late_gpu_record_ns = 60'000'000'000;
  size_t max_late_launches = profilemate_LateGpuTime_LATE_GPU_TIME_WINDOW;
};

class GraphTracker {
 public:
  explicit GraphTracker(RecordFn record = pm_record, GraphTrackerLimits limits = {});

  // When GPU records will not come (no activity API), launches are written at once.
  void set_gpu_timing(bool enabled) { gpu_timing_ = enabled; }
  // Before the first launch.
  void set_limits(const GraphTrackerLimits& limits) { limits_ = limits; }

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
  // Whether a launch still waits for its GPU record.
  [[nodiscard]] bool awaiting_gpu() const;

  struct Counters {
    uint64_t replays_with_gpu = 0;
    uint64_t replays_without_gpu = 0;
    uint64_t unmatched_gpu_records = 0;
    uint64_t late_gpu_times = 0;  // GPU records that came after their replay was written
  };
  Counters counters() const;

 private:
  // What a replay needs while its launch waits for the GPU record: 32 bytes, where a nanopb
  // GraphReplay in a hash map node took about 100.
  struct PendingLaunch {
    uint64_t cpu_enter_ns;
    uint64_t cpu_duration_ns;  // kJoined once its GPU record came
    uint32_t correlation_id;
    uint32_t exec_id;
    uint32_t stream_id;
    uint32_t thread;
  };
  static_assert(sizeof(PendingLaunch) == 32);
  static constexpr uint64_t kJoined = UINT64_MAX;  // a duration no call has

  // A launch written without GPU time whose GPU record may still come.
  struct LateLaunch {
    uint32_t correlation_id;
    uint32_t written_ms;  // pm_now in ms, wrapping: only differences count
  };
  static_assert(sizeof(LateLaunch) == 8);

  static profilemate_GraphReplay replay_of(const PendingLaunch& launch);
  void write_replay(profilemate_GraphReplay& replay, bool with_gpu);
  void drop_joined_front_locked();
  // Called for launches about to be written without GPU time; ids stay ordered as in pending_.
  void remember_late_locked(const PendingLaunch& launch, uint64_t now_ns);
  [[nodiscard]] bool remembered_late_locked(uint32_t correlation_id) const;
  // A replay written because its GPU record is overdue: it names its correlation id.
  void write_overdue(const PendingLaunch& launch);

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
  // Ordered by correlation id (CUPTI hands them out in increasing order, so a launch goes in at
  // or near the back) and searched by bisection; a joined launch stays as a tombstone until it
  // reaches the front. Records are written outside the lock: a thread that waits for the
  // recorder (pm_set_thread_waits) must never hold up a launching application thread.
  std::deque<PendingLaunch> pending_;
  std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> early_gpu_;  // GPU record before its launch
  std::deque<LateLaunch> late_;  // ordered by correlation id, oldest first
  std::atomic<uint64_t> replays_with_gpu_{0};
  std::atomic<uint64_t> replays_without_gpu_{0};
  std::atomic<uint64_t> unmatched_gpu_records_{0};
  std::atomic<uint64_t> late_gpu_times_{0};
};

}  // namespace profilemate::injection
