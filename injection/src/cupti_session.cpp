#include "cupti_session.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "graph_calls.h"
#include "graph_trace_record.h"
#include "no_destructor.h"
#include "notices.h"

namespace profilemate::injection {
namespace {

constexpr const char* kStillRecorded =
    "Still recorded: the Python hooks' events (vLLM steps, KV cache, MoE, forward passes).";

// Inside a runtime graph call we follow: the driver call it makes underneath is the same event.
thread_local int t_runtime_depth = 0;
// Inside a driver call of our own, made from a callback: whatever it triggers is not the
// application's.
thread_local bool t_in_own_call = false;

// What the ENTER callback learnt, for the EXIT callback of the same call on the same thread.
struct CallState {
  uint32_t exec_id = 0;
  uint32_t stream_id = 0;
};
thread_local CallState t_call;

// Marks the calling thread as one of ProfileMate's own for a scope: when its buffer is full its
// records wait for the writer instead of being dropped (pm_set_thread_waits), which costs the
// application nothing here. Restores what was set before, so scopes nest.
class OwnThreadScope {
 public:
  OwnThreadScope() : previous_(pm_set_thread_waits(1)) {}
  ~OwnThreadScope() { pm_set_thread_waits(previous_); }
  OwnThreadScope(const OwnThreadScope&) = delete;
  OwnThreadScope& operator=(const OwnThreadScope&) = delete;

 private:
  int previous_;
};

uint64_t realtime_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(now.tv_nsec);
}

std::string version_text(uint32_t version) {
  if (version >= 100000) {
    return std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + " (API " +
           std::to_string(version) + ")";
  }
  return "API " + std::to_string(version);
}

}  // namespace

CuptiSession& CuptiSession::instance() {
  static recorder::NoDestructor<CuptiSession> session;
  return session.get();
}

void CuptiSession::start(const SessionOptions& options) {
  options_ = options;
  if (forked_) {
    // The parent's CUPTI state was copied, not inherited: it does not work here. Nothing of the
    // copied session is touched (its flush thread was not copied; its locks may be held).
    notice(profilemate_Notice_Severity_DEGRADED,
           std::string("CUDA graph tracing is off in this forked child: CUPTI does not work after fork. ") +
               kStillRecorded);
    return;
  }
  CuptiLoad load = load_cupti();
  if (!load.loaded) {
    notice(profilemate_Notice_Severity_DEGRADED,
           "CUDA graph tracing is off: " + load.error + ". " + kStillRecorded);
    return;
  }
  cupti_ = std::move(load.library);
  record_versions();
  if (!subscribe()) return;
  if (!enable_callbacks()) return;

  if (!reads_graph_trace_of(cupti_.major())) {
    // Callback parameters are stable across majors; activity record layouts are not.
    notice(profilemate_Notice_Severity_DEGRADED,
           "GPU timing of CUDA graph replays is off: the CUPTI in this process (" + cupti_.path + ", " +
               version_text(cupti_.version) +
               ") is neither CUPTI 12 nor 13, whose GRAPH_TRACE records this library reads. Captures and "
               "replays are still recorded, with CPU launch times.");
  } else {
    enable_gpu_timing();
  }
  GraphTrackerLimits limits;
  limits.gpu_record_timeout_ns = uint64_t{options_.gpu_record_timeout_ms} * 1'000'000;
  tracker_.set_limits(limits);
  if (gpu_timing_) check_cupti_clock();
  tracker_.set_gpu_timing(gpu_timing_);
  tracing_.store(true, std::memory_order_release);
  if (gpu_timing_) flusher_ = BoundedThread([this] { flush_loop(); });
}

bool CuptiSession::subscribe() {
  char other[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 1] = {};
  CUptiResult result = CUPTI_SUCCESS;
  if (cupti_.Subscribe_v2 != nullptr) {
    CUpti_SubscriberParams params{};
    params.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
    params.subscriberName = "ProfileMate";
    params.oldSubscriberName = other;
    params.oldSubscriberSize = CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN;
    result = cupti_.Subscribe_v2(&subscriber_, &CuptiSession::on_callback, this, &params);
  } else {
    result = cupti_.Subscribe(&subscriber_, &CuptiSession::on_callback, this);
  }
  if (result == CUPTI_SUCCESS) return true;
  if (result == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
    const std::string who = other[0] != '\0' ? std::string(" (") + other + ")" : "";
    notice(profilemate_Notice_Severity_DEGRADED,
           "CUDA graph tracing is off: another tool" + who +
               " holds CUPTI's only subscriber slot (nsys, ncu, compute-sanitizer and the torch profiler "
               "take it). " +
               kStillRecorded);
  } else {
    notice(profilemate_Notice_Severity_DEGRADED, "CUDA graph tracing is off: cuptiSubscribe failed with " +
                                                     cupti_.result_text(result) + " (" + cupti_.path + "). " +
                                                     kStillRecorded);
  }
  return false;
}

bool CuptiSession::enable_callbacks() {
  // A refused callback means calls of that kind go unseen: say which, and go on with the rest.
  size_t refused = 0;
  size_t total = 0;
  std::string first_refusal;
  const auto enable = [&](CUpti_CallbackDomain domain, CUpti_CallbackId cbid) {
    ++total;
    const CUptiResult result = cupti_.EnableCallback(1, subscriber_, domain, cbid);
    if (result == CUPTI_SUCCESS) return;
    if (refused++ == 0) {
      first_refusal = "domain " + std::to_string(domain) + " callback " + std::to_string(cbid) + ": " +
                      cupti_.result_text(result);
    }
  };
  for (const CUpti_CallbackId* cbid = kRuntimeGraphCallbacks; *cbid != 0; ++cbid)
    enable(CUPTI_CB_DOMAIN_RUNTIME_API, *cbid);
  for (const CUpti_CallbackId* cbid = kDriverGraphCallbacks; *cbid != 0; ++cbid)
    enable(CUPTI_CB_DOMAIN_DRIVER_API, *cbid);
  if (refused == total) {
    cupti_.Unsubscribe(subscriber_);
    notice(profilemate_Notice_Severity_DEGRADED,
           "CUDA graph tracing is off: CUPTI refused every graph API callback (" + first_refusal + "). " +
               kStillRecorded);
    return false;
  }
  if (refused > 0) {
    notice(profilemate_Notice_Severity_DEGRADED,
           "CUPTI refused " + std::to_string(refused) + " of " + std::to_string(total) +
               " graph API callbacks (first: " + first_refusal +
               "): the CUDA graph calls they cover are not recorded; the others are.");
  }
  const CUptiResult fatal =
      cupti_.EnableCallback(1, subscriber_, CUPTI_CB_DOMAIN_STATE, CUPTI_CBID_STATE_FATAL_ERROR);
  if (fatal != CUPTI_SUCCESS) {
    notice(profilemate_Notice_Severity_WARNING,
           "CUPTI refused the fatal-error callback (" + cupti_.result_text(fatal) +
               "): should CUPTI fail for good, replays still waiting for GPU time are written without it at "
               "the next expiry instead of at once.");
  }
  return true;
}

void CuptiSession::enable_gpu_timing() {
  buffers_ = std::make_unique<ActivityBuffers>(options_.activity_buffers, options_.activity_buffer_bytes);
  CUptiResult result = cupti_.ActivityRegisterCallbacks(&CuptiSession::on_buffer_requested,
                                                        &CuptiSession::on_buffer_completed);
  if (result == CUPTI_SUCCESS) result = cupti_.ActivityEnable(CUPTI_ACTIVITY_KIND_GRAPH_TRACE);
  if (result != CUPTI_SUCCESS) {
    notice(profilemate_Notice_Severity_DEGRADED,
           "GPU timing of CUDA graph replays is off: CUPTI refused the GRAPH_TRACE activity (" +
               cupti_.result_text(result) +
               "). Captures and replays are still recorded, with CPU launch times.");
    return;
  }
  gpu_timing_ = true;
  takeover_watch_ = std::make_unique<BufferTakeoverWatch>(options_.activity_buffer_bytes /
                                                          sizeof(CUpti_ActivityGraphTrace2));
}

void CuptiSession::record_versions() const {
  profilemate_ProcessInfo info = profilemate_ProcessInfo_init_zero;
  info.t_ns = pm_now();
  pm_copy_string(info.cupti_version, sizeof info.cupti_version, version_text(cupti_.version).c_str());
  int driver = 0;
  if (cupti_.DriverGetVersion != nullptr && cupti_.DriverGetVersion(&driver) == CUDA_SUCCESS) {
    const std::string text = std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10);
    pm_copy_string(info.cuda_driver_version, sizeof info.cuda_driver_version, text.c_str());
  }
  pm_record(profilemate_Record_process_info_tag, &info);
}

void CuptiSession::check_cupti_clock() {
  // CUPTI's clock next to ours, in the log at every check, so a change shows when it happened.
  profilemate_ClockSync sync = profilemate_ClockSync_init_zero;
  sync.realtime_ns = realtime_ns();
  uint64_t cupti_now = 0;
  sync.has_cupti_ns = cupti_.GetTimestamp(&cupti_now) == CUPTI_SUCCESS;
  const uint64_t realtime_after = realtime_ns();
  sync.cupti_ns = cupti_now;
  sync.t_ns = pm_log_time(sync.realtime_ns);
  pm_record(profilemate_Record_clock_sync_tag, &sync);
  if (sync.has_cupti_ns && !cupti_clock_is_realtime(sync.realtime_ns, cupti_now, realtime_after)) {
    drop_gpu_times("CUPTI's clock is no longer CLOCK_REALTIME (CUPTI says " + std::to_string(cupti_now) +
                   " ns, CLOCK_REALTIME " + std::to_string(sync.realtime_ns) +
                   " ns): another tool in this process registered its own timestamp callback, as the torch "
                   "profiler does");
  }
}

void CuptiSession::check_buffer_takeover() {
  if (takeover_watch_ == nullptr || gpu_times_dropped_.load(std::memory_order_relaxed)) return;
  const ActivityBuffers::Handovers handovers = buffers_->handovers();
  if (takeover_watch_->taken_over(handovers.count, tracker_.counters().replays_without_gpu, handovers.lent)) {
    drop_gpu_times(
        "another tool in this process took over CUPTI's activity buffers, as the torch profiler "
        "does when it starts (" +
        std::to_string(takeover_watch_->expired_since_handover()) +
        " replays went without their GPU record while no buffer came back)");
  }
}

void CuptiSession::drop_gpu_times(const std::string& why) {
  if (gpu_times_dropped_.exchange(true)) return;
  notice(profilemate_Notice_Severity_DEGRADED,
         "GPU timing of CUDA graph replays stops here: " + why +
             ". Replays are still recorded, with CPU launch times; set PROFILEMATE_CUPTI=0 in runs that use "
             "torch.profiler.");
}

void CUPTIAPI CuptiSession::on_callback(void* userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                        const void* cbdata) {
  auto& session = *static_cast<CuptiSession*>(userdata);
  if (!session.tracing_.load(std::memory_order_acquire) || cbdata == nullptr) return;
  if (domain == CUPTI_CB_DOMAIN_STATE) {
    if (cbid == CUPTI_CBID_STATE_FATAL_ERROR)
      session.handle_fatal_error(*static_cast<const CUpti_StateData*>(cbdata));
    return;
  }
  if (domain == CUPTI_CB_DOMAIN_RUNTIME_API || domain == CUPTI_CB_DOMAIN_DRIVER_API) {
    session.handle_api_call(domain, cbid, *static_cast<const CUpti_CallbackData*>(cbdata));
  }
}

uint32_t CuptiSession::stream_id(CUcontext context, CUstream stream, bool per_thread) const {
  uint32_t id = 0;
  cupti_.GetStreamIdEx(context, stream, per_thread ? 1 : 0, &id);
  return id;
}

void CuptiSession::handle_api_call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                   const CUpti_CallbackData& data) {
  if (t_in_own_call) return;
  const bool enter = data.callbackSite == CUPTI_API_ENTER;
  const bool runtime = domain == CUPTI_CB_DOMAIN_RUNTIME_API;
  if (!runtime && t_runtime_depth > 0) return;
  if (runtime) t_runtime_depth += enter ? 1 : -1;

  const GraphCall call = decode_graph_call(domain, cbid, data.functionParams);
  if (call.op == GraphOp::kNone) return;
  const uint64_t now_ns = pm_now();
  if (enter) {
    *data.correlationData = now_ns;
    if (call.exec != nullptr) {
      // Taken now: at a destroy's EXIT the handle is gone.
      t_call.exec_id = 0;
      cupti_.GetGraphExecId(call.exec, &t_call.exec_id);
    }
    if (call.op == GraphOp::kLaunch || call.op == GraphOp::kUpload) {
      t_call.stream_id = stream_id(data.context, call.stream, call.per_thread_stream);
    }
    return;
  }

  const uint64_t begin_ns = *data.correlationData;  // stored at ENTER
  const int result =
      data.functionReturnValue != nullptr ? *static_cast<const int*>(data.functionReturnValue) : 0;
  switch (call.op) {
    case GraphOp::kBeginCapture:
      if (result == 0) {
        tracker_.capture_begin(reinterpret_cast<uint64_t>(call.stream),
                               stream_id(data.context, call.stream, call.per_thread_stream),
                               call.capture_mode, begin_ns);
      }
      break;
    case GraphOp::kEndCapture: {
      CUgraph graph = (result == 0 && call.graph_out != nullptr) ? *call.graph_out : nullptr;
      uint32_t graph_id = 0;
      size_t nodes = 0;
      if (graph != nullptr) {
        cupti_.GetGraphId(graph, &graph_id);
        // Counted now: PyTorch destroys the CUgraph right after instantiating it. Querying an ended
        // graph is safe during another thread's global-mode capture (no sync, no allocation).
        if (cupti_.GraphGetNodes != nullptr) {
          t_in_own_call = true;
          cupti_.GraphGetNodes(graph, nullptr, &nodes);
          t_in_own_call = false;
        }
      }
      tracker_.capture_end(reinterpret_cast<uint64_t>(call.stream), graph_id, static_cast<uint32_t>(nodes),
                           graph != nullptr, now_ns);
      break;
    }
    case GraphOp::kInstantiate:
      if (result == 0 && call.exec_out != nullptr && *call.exec_out != nullptr) {
        uint32_t graph_id = 0;
        uint32_t exec_id = 0;
        cupti_.GetGraphId(call.graph, &graph_id);
        cupti_.GetGraphExecId(*call.exec_out, &exec_id);
        tracker_.instantiate(graph_id, exec_id, call.flags, begin_ns, now_ns, result);
      }
      break;
    case GraphOp::kLaunch:
      if (result == 0)
        tracker_.launch(data.correlationId, t_call.exec_id, t_call.stream_id, begin_ns, now_ns);
      break;
    case GraphOp::kUpload:
      tracker_.exec_event(profilemate_GraphExecEvent_Op_UPLOAD, t_call.exec_id, t_call.stream_id, begin_ns,
                          now_ns, result);
      break;
    case GraphOp::kExecUpdate:
      tracker_.exec_event(profilemate_GraphExecEvent_Op_UPDATE, t_call.exec_id, 0, begin_ns, now_ns, result);
      break;
    case GraphOp::kExecDestroy:
      tracker_.exec_event(profilemate_GraphExecEvent_Op_DESTROY, t_call.exec_id, 0, begin_ns, now_ns, result);
      break;
    case GraphOp::kNone: break;
  }
}

void CuptiSession::handle_fatal_error(const CUpti_StateData& state) {
  // CUPTI finalizes itself after this: never call it again, never exit. Launches still waiting
  // for a GPU record will not get one.
  tracing_.store(false, std::memory_order_release);
  tracker_.expire(pm_now(), true);
  const char* message = state.notification.message;
  notice(profilemate_Notice_Severity_FAULT,
         "CUPTI reported a fatal error (" + cupti_.result_text(state.notification.result) +
             (message != nullptr ? std::string(": ") + message : std::string()) +
             "): CUDA graph tracing stops here; the application goes on. " + kStillRecorded);
}

void CUPTIAPI CuptiSession::on_buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  CuptiSession& session = instance();
  *buffer = session.buffers_->acquire();
  *size = *buffer != nullptr ? session.buffers_->buffer_bytes() : 0;
  *max_records = 0;
}

void CUPTIAPI CuptiSession::on_buffer_completed(CUcontext /*context*/, uint32_t /*stream_id*/,
                                                uint8_t* buffer, size_t /*size*/, size_t valid_size) {
  CuptiSession& session = instance();
  if (buffer == nullptr) return;
  // CUPTI calls this from its own worker or from the flushing thread, ours: GPU records arrive in
  // bulk (a full buffer, or everything at a flush), far faster than the writer drains one buffer.
  const OwnThreadScope own_thread;
  session.buffers_->handed_back(buffer);
  session.read_activity(buffer, valid_size);
  session.buffers_->release(buffer);
}

void CuptiSession::read_activity(uint8_t* buffer, size_t valid_size) {
  CUpti_Activity* record = nullptr;
  while (!gpu_times_dropped_.load(std::memory_order_relaxed) &&
         cupti_.ActivityGetNextRecord(buffer, valid_size, &record) == CUPTI_SUCCESS) {
    if (record->kind != CUPTI_ACTIVITY_KIND_GRAPH_TRACE) continue;
    GraphTraceTimes trace{};
    std::memcpy(&trace, record, sizeof trace);         // the prefix common to CUPTI 12's and 13's records
    if (trace.start == 0 && trace.end == 0) continue;  // CUPTI could not time it
    const uint64_t start_ns = pm_log_time(trace.start);
    const uint64_t end_ns = pm_log_time(trace.end);
    // Stamped in another clock between two clock checks: caught here, before it is joined.
    if (!gpu_times_in_session(start_ns, end_ns)) {
      drop_gpu_times(
          "a GPU record's times (" + std::to_string(trace.start) + " to " + std::to_string(trace.end) +
          " ns) are not CLOCK_REALTIME within this session: another tool in this process registered "
          "its own timestamp callback, as the torch profiler does");
      break;
    }
    tracker_.gpu_execution(trace.correlation_id, start_ns, end_ns);
  }
  size_t dropped = 0;
  if (cupti_.ActivityGetNumDroppedRecords(nullptr, 0, &dropped) == CUPTI_SUCCESS && dropped > 0) {
    profilemate_DroppedRecords event = profilemate_DroppedRecords_init_zero;
    event.t_ns = pm_now();
    event.reason = profilemate_DroppedRecords_Reason_CUPTI_ACTIVITY;
    event.dropped = cupti_dropped_total_.fetch_add(dropped, std::memory_order_relaxed) + dropped;
    pm_record(profilemate_Record_dropped_records_tag, &event);
  }
}

void CuptiSession::flush_loop() {
  const OwnThreadScope own_thread;
  std::unique_lock lock(flush_mutex_);
  while (!stopping_) {
    flush_wake_.wait_for(lock, std::chrono::milliseconds(options_.flush_interval_ms));
    if (stopping_) break;
    if (!tracing_.load(std::memory_order_acquire)) continue;  // after a fatal error: hands off
    lock.unlock();
    check_cupti_clock();
    // Never while holding a lock the buffer callbacks take: they run inside this call.
    cupti_.ActivityFlushAll(0);
    tracker_.expire(pm_now(), false);
    write_gpu_record_stats();
    check_buffer_takeover();
    lock.lock();
  }
}

void CuptiSession::stop() {
  if (stopped_.exchange(true)) return;
  const bool was_tracing = tracing_.exchange(false);
  {
    const std::lock_guard lock(flush_mutex_);
    stopping_ = true;
  }
  flush_wake_.notify_all();
  // One deadline for every wait at exit: the flush thread may sit inside a CUPTI flush that
  // never returns in a dying process, and so may the forced flush.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.exit_flush_timeout_ms);
  bool cupti_returned = flusher_.join_until(deadline);
  uint64_t owed_before = 0;  // buffers lent before this lend are owed back
  if (cupti_returned && gpu_timing_ && was_tracing) {
    // Not after another client took the buffers over: those never come back.
    if (!gpu_times_dropped_.load(std::memory_order_relaxed)) owed_before = buffers_->next_lend();
    cupti_returned = BoundedThread([this] {
                       const OwnThreadScope own_thread;
                       cupti_.ActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
                     }).join_until(deadline);
  }
  // CUPTI's worker may have taken a completed buffer before the forced flush and not yet handed
  // it back, or be reading one: its records must meet their launches before those are written
  // without GPU time. Once no launch waits for a GPU record, a buffer still out holds none we need.
  if (cupti_returned && gpu_timing_) {
    cupti_returned =
        buffers_->wait_returned(owed_before, deadline, [this] { return tracker_.awaiting_gpu(); });
  }
  if (!cupti_returned) {
    notice(profilemate_Notice_Severity_WARNING, "CUPTI did not finish an activity flush within " +
                                                    std::to_string(options_.exit_flush_timeout_ms) +
                                                    " ms at exit: ProfileMate stopped waiting for it; "
                                                    "replays still in flight are written without GPU "
                                                    "time");
  }
  const OwnThreadScope final_flush;  // at exit: the application is done
  tracker_.expire(pm_now(), true);
  if (gpu_timing_) write_gpu_record_stats();
}

void CuptiSession::write_gpu_record_stats() {
  // Read under the lock: records from different threads reach the log in drain order, so the
  // reader keeps the one with the latest t_ns, which must then carry the latest counters.
  const std::lock_guard lock(stats_mutex_);
  const GraphTracker::Counters counters = tracker_.counters();
  const uint64_t declined = buffers_->declined();
  if (counters.replays_with_gpu == last_stats_.replays_with_gpu &&
      counters.replays_without_gpu == last_stats_.replays_without_gpu &&
      counters.unmatched_gpu_records == last_stats_.unmatched_gpu_records &&
      counters.late_gpu_times == last_stats_.late_gpu_times && declined == last_declined_) {
    return;  // an idle process writes nothing
  }
  last_stats_ = counters;
  last_declined_ = declined;
  profilemate_GpuRecordStats stats = profilemate_GpuRecordStats_init_zero;
  stats.t_ns = pm_now();
  stats.replays_with_gpu = counters.replays_with_gpu;
  stats.replays_without_gpu = counters.replays_without_gpu;
  stats.late_gpu_times = counters.late_gpu_times;
  stats.unmatched_gpu_records = counters.unmatched_gpu_records;
  stats.buffers_declined = declined;
  pm_record(profilemate_Record_gpu_record_stats_tag, &stats);
}

void CuptiSession::abandon_after_fork() {
  tracing_.store(false, std::memory_order_release);
  stopped_.store(true);  // the flush thread is the parent's
  forked_ = true;
}

}  // namespace profilemate::injection
