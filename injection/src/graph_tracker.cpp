#include "graph_tracker.h"

#include <cstdio>

namespace profilemate::injection {
namespace {

uint64_t elapsed(uint64_t begin_ns, uint64_t end_ns) {
  return end_ns > begin_ns ? end_ns - begin_ns : 0;
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
  profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
  replay.exec_id = exec_id;
  replay.stream_id = stream_id;
  replay.thread = pm_thread();
  replay.cpu_enter_ns = enter_ns;
  replay.cpu_duration_ns = elapsed(enter_ns, exit_ns);
  if (!gpu_timing_) {
    write_replay(replay, false);
    return;
  }
  std::unique_lock lock(launches_mutex_);
  const auto early = early_gpu_.find(correlation_id);
  if (early != early_gpu_.end()) {
    const auto [start, end] = early->second;
    early_gpu_.erase(early);
    lock.unlock();
    attach_gpu_time(replay, start, end);
    write_replay(replay, true);
    return;
  }
  if (pending_.size() >= limits_.max_pending_launches) pop_oldest_locked();
  pending_[correlation_id] = replay;
  arrival_.push_back(correlation_id);
}

void GraphTracker::gpu_execution(uint32_t correlation_id, uint64_t start_ns, uint64_t end_ns) {
  std::unique_lock lock(launches_mutex_);
  const auto it = pending_.find(correlation_id);
  if (it == pending_.end()) {
    if (early_gpu_.size() >= limits_.max_pending_launches) {
      unmatched_gpu_records_ += early_gpu_.size();
      early_gpu_.clear();
    }
    early_gpu_[correlation_id] = {start_ns, end_ns};
    return;
  }
  profilemate_GraphReplay replay = it->second;
  pending_.erase(it);
  lock.unlock();
  attach_gpu_time(replay, start_ns, end_ns);
  write_replay(replay, true);
}

void GraphTracker::pop_oldest_locked() {
  while (!arrival_.empty()) {
    const uint32_t oldest = arrival_.front();
    arrival_.pop_front();
    const auto it = pending_.find(oldest);
    if (it == pending_.end()) continue;  // already joined
    write_replay(it->second, false);
    pending_.erase(it);
    return;
  }
}

void GraphTracker::expire(uint64_t now_ns, bool everything) {
  const std::lock_guard lock(launches_mutex_);
  while (!arrival_.empty()) {
    const auto it = pending_.find(arrival_.front());
    if (it == pending_.end()) {
      arrival_.pop_front();
      continue;
    }
    const uint64_t age = now_ns > it->second.cpu_enter_ns ? now_ns - it->second.cpu_enter_ns : 0;
    if (!everything && age < limits_.gpu_record_timeout_ns) break;
    pop_oldest_locked();
  }
  if (everything) {
    unmatched_gpu_records_ += early_gpu_.size();
    early_gpu_.clear();
  }
}

void GraphTracker::write_replay(profilemate_GraphReplay& replay, bool with_gpu) {
  record_(profilemate_Record_graph_replay_tag, &replay);
  (with_gpu ? replays_with_gpu_ : replays_without_gpu_).fetch_add(1, std::memory_order_relaxed);
}

GraphTracker::Counters GraphTracker::counters() const {
  return {replays_with_gpu_.load(), replays_without_gpu_.load(), unmatched_gpu_records_.load()};
}

}  // namespace profilemate::injection
