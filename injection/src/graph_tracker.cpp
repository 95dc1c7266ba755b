#include "graph_tracker.h"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace profilemate::injection {
namespace {

uint64_t elapsed(uint64_t begin_ns, uint64_t end_ns) {
  return end_ns > begin_ns ? end_ns - begin_ns : 0;
}

// Correlation ids in serial-number order, so the order survives their 32-bit wrap-around.
bool precedes(uint32_t a, uint32_t b) {
  return static_cast<int32_t>(a - b) < 0;
}

void attach_gpu_time(profilemate_GraphReplay& replay, uint64_t start_ns, uint64_t end_ns) {
  replay.has_gpu_start_offset_ns = true;
  replay.gpu_start_offset_ns = static_cast<int64_t>(start_ns - replay.cpu_enter_ns);
  replay.has_gpu_duration_ns = true;
  replay.gpu_duration_ns = elapsed(start_ns, end_ns);
}

}  // namespace

GraphTracker::GraphTracker(RecordFn record, GraphTrackerLimits limits) : record_(record), limits_(limits) {}

void GraphTracker::capture_begin(uint64_t stream, uint32_t stream_id, uint32_t mode, uint64_t t_ns) {
  profilemate_GraphCapture capture = profilemate_GraphCapture_init_zero;
  capture.thread = pm_thread();
  capture.stream_id = stream_id;
  capture.begin_ns = t_ns;
  capture.capture_mode = mode;
  // vLLM's batch descriptor, if the Python hooks set one on this thread.
  capture.has_context = pm_get_capture_context(&capture.context) != 0;
  // An NVTX range from begin to end of capture (it may end on another thread), named by the label.
  char name[96];
  if (capture.has_context) {
    std::snprintf(name, sizeof name, "CUDA graph capture %s num_tokens=%u", capture.context.runtime_mode,
                  capture.context.num_tokens);
  } else {
    std::snprintf(name, sizeof name, "CUDA graph capture");
  }
  const uint64_t range = pm_range_start(name, capture.context.num_tokens);
  const std::lock_guard lock(captures_mutex_);
  open_captures_[stream] = {capture, range};
}

void GraphTracker::capture_end(uint64_t stream, uint32_t graph_id, uint32_t node_count, bool ok,
                               uint64_t t_ns) {
  OpenCapture open;
  {
    const std::lock_guard lock(captures_mutex_);
    const auto it = open_captures_.find(stream);
    if (it == open_captures_.end()) return;  // began before we were loaded
    open = it->second;
    open_captures_.erase(it);
  }
  pm_range_end(open.nvtx_range);
  profilemate_GraphCapture& capture = open.capture;
  capture.graph_id = graph_id;
  capture.node_count = node_count;
  capture.duration_ns = elapsed(capture.begin_ns, t_ns);
  capture.status = ok ? profilemate_GraphCapture_Status_OK : profilemate_GraphCapture_Status_FAILED;
  record_(profilemate_Record_graph_capture_tag, &capture);
}

void GraphTracker::instantiate(uint32_t graph_id, uint32_t exec_id, uint64_t flags, uint64_t begin_ns,
                               uint64_t end_ns, int32_t result) {
  profilemate_GraphInstantiate event = profilemate_GraphInstantiate_init_zero;
  event.graph_id = graph_id;
  event.exec_id = exec_id;
  event.thread = pm_thread();
  event.t_ns = begin_ns;
  event.duration_ns = elapsed(begin_ns, end_ns);
  event.flags = flags;
  event.result = result;
  record_(profilemate_Record_graph_instantiate_tag, &event);
}

void GraphTracker::exec_event(profilemate_GraphExecEvent_Op op, uint32_t exec_id, uint32_t stream_id,
                              uint64_t begin_ns, uint64_t end_ns, int32_t result) {
  profilemate_GraphExecEvent event = profilemate_GraphExecEvent_init_zero;
  event.op = op;
  event.exec_id = exec_id;
  event.thread = pm_thread();
  event.t_ns = begin_ns;
  event.duration_ns = elapsed(begin_ns, end_ns);
  event.stream_id = stream_id;
  event.result = result;
  record_(profilemate_Record_graph_exec_event_tag, &event);
}

void GraphTracker::launch(uint32_t correlation_id, uint32_t exec_id, uint32_t stream_id, uint64_t enter_ns,
                          uint64_t exit_ns) {
  const PendingLaunch launch{enter_ns,   elapsed(enter_ns, exit_ns), correlation_id, exec_id, stream_id,
                             pm_thread()};
  if (!gpu_timing_) {
    profilemate_GraphReplay replay = replay_of(launch);
    write_replay(replay, false);
    return;
  }
  std::unique_lock lock(launches_mutex_);
  if (const auto early = early_gpu_.find(correlation_id); early != early_gpu_.end()) {
    const auto [start, end] = early->second;
    early_gpu_.erase(early);
    lock.unlock();
    profilemate_GraphReplay replay = replay_of(launch);
    attach_gpu_time(replay, start, end);
    write_replay(replay, true);
    return;
  }
  std::optional<PendingLaunch> evicted;
  if (pending_.size() >= limits_.max_pending_launches) {
    evicted = pending_.front();
    pending_.pop_front();
    drop_joined_front_locked();
    remember_late_locked(*evicted, exit_ns);
  }
  if (pending_.empty() || precedes(pending_.back().correlation_id, correlation_id)) {
    pending_.push_back(launch);
  } else {  // another thread's launch, called later, returned first
    pending_.insert(
        std::upper_bound(pending_.begin(), pending_.end(), correlation_id,
                         [](uint32_t id, const PendingLaunch& p) { return precedes(id, p.correlation_id); }),
        launch);
  }
  lock.unlock();
  if (evicted) write_overdue(*evicted);
}

void GraphTracker::gpu_execution(uint32_t correlation_id, uint64_t start_ns, uint64_t end_ns) {
  std::unique_lock lock(launches_mutex_);
  const auto it =
      std::lower_bound(pending_.begin(), pending_.end(), correlation_id,
                       [](const PendingLaunch& p, uint32_t id) { return precedes(p.correlation_id, id); });
  if (it == pending_.end() || it->correlation_id != correlation_id || it->cpu_duration_ns == kJoined) {
    if (remembered_late_locked(correlation_id)) {
      lock.unlock();
      profilemate_GraphReplayGpuTime late = profilemate_GraphReplayGpuTime_init_zero;
      late.correlation_id = correlation_id;
      late.gpu_start_ns = start_ns;
      late.gpu_duration_ns = elapsed(start_ns, end_ns);
      record_(profilemate_Record_graph_replay_gpu_time_tag, &late);
      late_gpu_times_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (early_gpu_.size() >= limits_.max_early_gpu_records) {
      unmatched_gpu_records_ += early_gpu_.size();
      early_gpu_.clear();
    }
    early_gpu_[correlation_id] = {start_ns, end_ns};
    return;
  }
  profilemate_GraphReplay replay = replay_of(*it);
  it->cpu_duration_ns = kJoined;
  drop_joined_front_locked();
  lock.unlock();
  attach_gpu_time(replay, start_ns, end_ns);
  write_replay(replay, true);
}

void GraphTracker::drop_joined_front_locked() {
  while (!pending_.empty() && pending_.front().cpu_duration_ns == kJoined) pending_.pop_front();
}

bool GraphTracker::awaiting_gpu() const {
  const std::lock_guard lock(launches_mutex_);
  return !pending_.empty();  // a joined launch leaves the front at once: the one there is unjoined
}

void GraphTracker::expire(uint64_t now_ns, bool everything) {
  std::deque<PendingLaunch> overdue;
  {
    const std::lock_guard lock(launches_mutex_);
    if (everything) {
      overdue.swap(pending_);
      unmatched_gpu_records_ += early_gpu_.size();
      early_gpu_.clear();
    } else {
      while (!pending_.empty()) {
        const PendingLaunch& oldest = pending_.front();
        const uint64_t age = now_ns > oldest.cpu_enter_ns ? now_ns - oldest.cpu_enter_ns : 0;
        if (oldest.cpu_duration_ns != kJoined && age < limits_.gpu_record_timeout_ns) break;
        if (oldest.cpu_duration_ns != kJoined) {
          overdue.push_back(oldest);
          remember_late_locked(oldest, now_ns);
        }
        pending_.pop_front();
      }
    }
  }
  for (const PendingLaunch& launch : overdue) {
    if (launch.cpu_duration_ns == kJoined) continue;
    if (everything) {
      profilemate_GraphReplay replay = replay_of(launch);
      write_replay(replay, false);  // the end: no GPU record comes after this
    } else {
      write_overdue(launch);
    }
  }
}

void GraphTracker::remember_late_locked(const PendingLaunch& launch, uint64_t now_ns) {
  const auto now_ms = static_cast<uint32_t>(now_ns / 1'000'000);
  const uint64_t horizon_ms = limits_.late_gpu_record_ns / 1'000'000;
  while (!late_.empty() && (late_.size() >= limits_.max_late_launches ||
                            static_cast<uint32_t>(now_ms - late_.front().written_ms) > horizon_ms)) {
    late_.pop_front();
  }
  if (limits_.max_late_launches == 0) return;
  const LateLaunch entry{launch.correlation_id, now_ms};
  if (late_.empty() || precedes(late_.back().correlation_id, launch.correlation_id)) {
    late_.push_back(entry);
  } else {  // a launch that returned very late: rare
    late_.insert(
        std::upper_bound(late_.begin(), late_.end(), launch.correlation_id,
                         [](uint32_t id, const LateLaunch& l) { return precedes(id, l.correlation_id); }),
        entry);
  }
}

bool GraphTracker::remembered_late_locked(uint32_t correlation_id) const {
  const auto it =
      std::lower_bound(late_.begin(), late_.end(), correlation_id,
                       [](const LateLaunch& l, uint32_t id) { return precedes(l.correlation_id, id); });
  return it != late_.end() && it->correlation_id == correlation_id;
}

void GraphTracker::write_overdue(const PendingLaunch& launch) {
  profilemate_GraphReplay replay = replay_of(launch);
  replay.has_correlation_id = limits_.max_late_launches > 0;
  replay.correlation_id = launch.correlation_id;
  write_replay(replay, false);
}

profilemate_GraphReplay GraphTracker::replay_of(const PendingLaunch& launch) {
  profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
  replay.exec_id = launch.exec_id;
  replay.stream_id = launch.stream_id;
  replay.thread = launch.thread;
  replay.cpu_enter_ns = launch.cpu_enter_ns;
  replay.cpu_duration_ns = launch.cpu_duration_ns;
  return replay;
}

void GraphTracker::write_replay(profilemate_GraphReplay& replay, bool with_gpu) {
  record_(profilemate_Record_graph_replay_tag, &replay);
  (with_gpu ? replays_with_gpu_ : replays_without_gpu_).fetch_add(1, std::memory_order_relaxed);
}

GraphTracker::Counters GraphTracker::counters() const {
  return {replays_with_gpu_.load(), replays_without_gpu_.load(), unmatched_gpu_records_.load(),
          late_gpu_times_.load()};
}

}  // namespace profilemate::injection
