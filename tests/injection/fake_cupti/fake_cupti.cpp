// A fake CUPTI for tests without a GPU: built against the real cupti.h, it exports the functions
// the injection library binds and behaves as the documentation says, with switches to play the
// failures: FAKE_CUPTI_REFUSE_SUBSCRIBER=<name> (another tool holds the slot),
// FAKE_CUPTI_REFUSE_ACTIVITY=1 (GRAPH_TRACE not available), FAKE_CUPTI_REFUSE_CALLBACKS=driver or
// =all (cuptiEnableCallback fails for the driver API domain, or for every domain),
// FAKE_CUPTI_FLUSH_BLOCKS=1 (cuptiActivityFlushAll never returns, as in a wedged driver),
// FAKE_CUPTI_WORKER_HANDBACK_MS=<ms> (the worker holds the buffers it took that long before it hands
// them back, which CUPTI's worker may do for any time: a flush meanwhile finds none),
// FAKE_CUPTI_KEEP_A_BUFFER=1 (one buffer requested with the first is never handed back, not even
// by a forced flush: what CUPTI does with one it put nothing in is not documented). Built twice: as
// CUPTI 13, and with FAKE_CUPTI_12 as CUPTI 12 (API version 28, no cuptiSubscribe_v2, and GRAPH_TRACE
// records in the shape CUPTI 12 used before GraphTrace2: 48 bytes where GraphTrace2 has 56). As CUPTI
// does, a timestamp callback registered at any time (cuptiActivityRegisterTimestampCallback) becomes
// the clock of cuptiGetTimestamp and of the GPU records processed from then on.
#include "fake_cupti.h"

#include "no_destructor.h"

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace {

#ifdef FAKE_CUPTI_12
using GraphTraceRecord = CUpti_ActivityGraphTrace;
static_assert(sizeof(GraphTraceRecord) < sizeof(CUpti_ActivityGraphTrace2));
#else
using GraphTraceRecord = CUpti_ActivityGraphTrace2;
#endif

struct State {
  std::mutex mutex;
  bool subscribed = false;
  CUpti_CallbackFunc callback = nullptr;
  void* userdata = nullptr;
  std::set<std::pair<int, CUpti_CallbackId>> enabled;
  CUpti_BuffersCallbackRequestFunc request = nullptr;
  CUpti_BuffersCallbackCompleteFunc complete = nullptr;
  bool graph_trace_enabled = false;
  std::deque<std::pair<uint8_t*, size_t>> completed;  // buffer, valid bytes
  const FakeGraphTrace* held = nullptr;               // records not yet in a buffer
  size_t held_count = 0;
  size_t dropped = 0;
  size_t declined = 0;
  struct ThreadBuffer {
    uint8_t* buffer = nullptr;
    size_t size = 0;
    size_t used = 0;
  };
  std::map<std::thread::id, ThreadBuffer> thread_buffers;
  bool worker = false;
  std::atomic<CUpti_TimestampCallbackFunc> timestamp{nullptr};  // cuptiActivityRegisterTimestampCallback
};

State& state() {
  static profilemate::recorder::NoDestructor<State> s;  // used from exit handlers
  return s.get();
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A GPU time (CLOCK_REALTIME) as CUPTI reports it: converted into a registered timestamp
// callback's clock when the record is processed, as CUPTI's post-processing does.
uint64_t reported(uint64_t realtime) {
  const CUpti_TimestampCallbackFunc clock = state().timestamp.load();
  return clock == nullptr ? realtime : realtime - now_ns() + clock();
}

// FAKE_CUPTI_KEEP_A_BUFFER: with the first buffer requested, one more that is never handed back.
void keep_a_buffer_once(CUpti_BuffersCallbackRequestFunc request) {
  static std::once_flag once;
  std::call_once(once, [request] {
    if (std::getenv("FAKE_CUPTI_KEEP_A_BUFFER") == nullptr) return;
    uint8_t* kept = nullptr;
    size_t size = 0;
    size_t max_records = 0;
    request(&kept, &size, &max_records);
  });
}

// Requests a buffer from the subscriber and fills it with up to `count` records; returns the
// buffer (nullptr when declined: the records are counted as dropped) and how many went in.
std::pair<uint8_t*, size_t> fill_buffer(const FakeGraphTrace* traces, size_t count, size_t& used) {
  State& s = state();
  uint8_t* buffer = nullptr;
  size_t size = 0;
  size_t max_records = 0;
  keep_a_buffer_once(s.request);
  s.request(&buffer, &size, &max_records);
  used = 0;
  if (buffer == nullptr) {
    const std::lock_guard lock(s.mutex);
    ++s.declined;
    s.dropped += count;
    return {nullptr, count};
  }
  size_t filled = 0;
  for (; filled < count && used + sizeof(GraphTraceRecord) <= size; ++filled) {
    GraphTraceRecord record{};
    record.kind = CUPTI_ACTIVITY_KIND_GRAPH_TRACE;
    record.correlationId = traces[filled].correlation_id;
    record.start = reported(traces[filled].start);
    record.end = reported(traces[filled].end);
    record.graphId = traces[filled].graph_id;
    record.streamId = traces[filled].stream_id;
    std::memcpy(buffer + used, &record, sizeof record);
    used += sizeof record;
  }
  return {buffer, filled};
}

void deliver_held_records() {
  State& s = state();
  const FakeGraphTrace* held = nullptr;
  size_t count = 0;
  {
    const std::lock_guard lock(s.mutex);
    held = s.held;
    count = s.held_count;
  }
  for (size_t first = 0; first < count;) {
    size_t used = 0;
    const auto [buffer, taken] = fill_buffer(held + first, count - first, used);
    if (buffer != nullptr) s.complete(nullptr, 0, buffer, 0, used);
    first += taken;
  }
  const std::lock_guard lock(s.mutex);
  if (s.held == held) s.held_count = 0;
}
}  // namespace

extern "C" {

#ifdef FAKE_CUPTI_12
constexpr uint32_t kVersion = 28;  // CUDA 12.9 Update 1
#else
constexpr uint32_t kVersion = CUPTI_API_VERSION;
#endif

CUptiResult CUPTIAPI cuptiGetVersion(uint32_t* version) {
  *version = kVersion;
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiGetResultString(CUptiResult result, const char** text) {
  *text = result == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
              ? "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED"
              : "CUPTI_ERROR_FAKE";
  return CUPTI_SUCCESS;
}

static CUptiResult subscribe(CUpti_SubscriberHandle* handle, CUpti_CallbackFunc callback, void* userdata,
                             CUpti_SubscriberParams* params) {
  State& s = state();
  const std::lock_guard lock(s.mutex);
  if (const char* other = std::getenv("FAKE_CUPTI_REFUSE_SUBSCRIBER")) {
    if (params != nullptr && params->oldSubscriberName != nullptr && params->oldSubscriberSize > 0) {
      std::strncpy(params->oldSubscriberName, other, params->oldSubscriberSize - 1);
    }
    return CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
  }
  if (s.subscribed) return CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
  // A forked child starts with the slot free, so that a child which initialises CUDA again can
  // subscribe: whatever stops it from tracing there must be the injection library's own doing.
  static const bool reset_at_fork =
      ::pthread_atfork(nullptr, nullptr, [] { state().subscribed = false; }) == 0;
  (void)reset_at_fork;
  s.subscribed = true;
  s.callback = callback;
  s.userdata = userdata;
  *handle = reinterpret_cast<CUpti_SubscriberHandle>(&s);
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiSubscribe(CUpti_SubscriberHandle* handle, CUpti_CallbackFunc callback,
                                    void* userdata) {
  return subscribe(handle, callback, userdata, nullptr);
}

#ifndef FAKE_CUPTI_12
CUptiResult CUPTIAPI cuptiSubscribe_v2(CUpti_SubscriberHandle* handle, CUpti_CallbackFunc callback,
                                       void* userdata, CUpti_SubscriberParams* params) {
  if (params != nullptr && params->structSize != CUpti_SubscriberParams_STRUCT_SIZE)
    return CUPTI_ERROR_INVALID_PARAMETER;
  return subscribe(handle, callback, userdata, params);
}
#endif

CUptiResult CUPTIAPI cuptiUnsubscribe(CUpti_SubscriberHandle /*subscriber*/) {
  const std::lock_guard lock(state().mutex);
  state().subscribed = false;
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiEnableCallback(uint32_t enable, CUpti_SubscriberHandle /*subscriber*/,
                                         CUpti_CallbackDomain domain, CUpti_CallbackId cbid) {
  if (const char* refuse = std::getenv("FAKE_CUPTI_REFUSE_CALLBACKS")) {
    if (std::strcmp(refuse, "all") == 0 ||
        (std::strcmp(refuse, "driver") == 0 && domain == CUPTI_CB_DOMAIN_DRIVER_API))
      return CUPTI_ERROR_NOT_SUPPORTED;
  }
  State& s = state();
  const std::lock_guard lock(s.mutex);
  if (enable != 0) {
    s.enabled.insert({domain, cbid});
  } else {
    s.enabled.erase({domain, cbid});
  }
  return CUPTI_SUCCESS;
}

// Handles are the ids themselves: the simulator makes them so.
CUptiResult CUPTIAPI cuptiGetGraphId(CUgraph graph, uint32_t* id) {
  *id = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(graph));
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiGetGraphExecId(CUgraphExec exec, uint32_t* id) {
  *id = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(exec));
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiGetStreamIdEx(CUcontext /*context*/, CUstream stream, uint8_t /*per_thread*/,
                                        uint32_t* id) {
  *id = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(stream));
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiGetTimestamp(uint64_t* timestamp) {
  *timestamp = reported(now_ns());
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiActivityRegisterTimestampCallback(CUpti_TimestampCallbackFunc clock) {
  if (clock == nullptr) return CUPTI_ERROR_INVALID_PARAMETER;
  state().timestamp.store(clock);
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiActivityRegisterCallbacks(CUpti_BuffersCallbackRequestFunc request,
                                                    CUpti_BuffersCallbackCompleteFunc complete) {
  State& s = state();
  const std::lock_guard lock(s.mutex);
  s.request = request;
  s.complete = complete;
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiActivityEnable(CUpti_ActivityKind kind) {
  if (kind == CUPTI_ACTIVITY_KIND_GRAPH_TRACE && std::getenv("FAKE_CUPTI_REFUSE_ACTIVITY") != nullptr) {
    return CUPTI_ERROR_NOT_COMPATIBLE;
  }
  const std::lock_guard lock(state().mutex);
  if (kind == CUPTI_ACTIVITY_KIND_GRAPH_TRACE) state().graph_trace_enabled = true;
  return CUPTI_SUCCESS;
}

// Hands back the complete buffers (and, forced, the partly filled ones) on the calling thread,
// without our lock held, as CUPTI does.
void deliver_completed(bool forced, std::chrono::milliseconds hold = {}) {
  State& s = state();
  std::deque<std::pair<uint8_t*, size_t>> ready;
  CUpti_BuffersCallbackCompleteFunc complete = nullptr;
  {
    const std::lock_guard lock(s.mutex);
    if (forced) {
      for (auto& [thread, partial] : s.thread_buffers) {
        if (partial.buffer != nullptr) s.completed.emplace_back(partial.buffer, partial.used);
      }
      s.thread_buffers.clear();
    }
    ready.swap(s.completed);
    complete = s.complete;
  }
  if (!ready.empty() && hold.count() > 0) std::this_thread::sleep_for(hold);
  for (const auto& [buffer, valid] : ready) complete(nullptr, 0, buffer, 0, valid);
}

CUptiResult CUPTIAPI cuptiActivityFlushAll(uint32_t flag) {
  if (std::getenv("FAKE_CUPTI_FLUSH_BLOCKS") != nullptr) {
    for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
  }
  deliver_completed((flag & CUPTI_ACTIVITY_FLAG_FLUSH_FORCED) != 0);
  deliver_held_records();
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiActivityGetNextRecord(uint8_t* buffer, size_t valid, CUpti_Activity** record) {
  uint8_t* next =
      *record == nullptr ? buffer : reinterpret_cast<uint8_t*>(*record) + sizeof(GraphTraceRecord);
  if (next + sizeof(GraphTraceRecord) > buffer + valid) return CUPTI_ERROR_MAX_LIMIT_REACHED;
  *record = reinterpret_cast<CUpti_Activity*>(next);
  return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiActivityGetNumDroppedRecords(CUcontext /*context*/, uint32_t /*stream_id*/,
                                                       size_t* dropped) {
  const std::lock_guard lock(state().mutex);
  *dropped = std::exchange(state().dropped, 0);
  return CUPTI_SUCCESS;
}

// ---- control ------------------------------------------------------------------------------

int fake_cupti_api(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, CUpti_ApiCallbackSite site,
                   const void* params, uint32_t correlation_id, const void* return_value,
                   uint64_t* correlation_data) {
  State& s = state();
  CUpti_CallbackFunc callback = nullptr;
  void* userdata = nullptr;
  {
    const std::lock_guard lock(s.mutex);
    if (!s.subscribed || !s.enabled.contains({domain, cbid})) return 0;
    callback = s.callback;
    userdata = s.userdata;
  }
  CUpti_CallbackData data{};
  data.callbackSite = site;
  data.functionName = "fake";
  data.functionParams = params;
  data.functionReturnValue = const_cast<void*>(return_value);
  data.correlationData = correlation_data;
  data.correlationId = correlation_id;
  callback(userdata, domain, cbid, &data);
  return 1;
}

void fake_cupti_state_fatal(CUptiResult result, const char* message) {
  State& s = state();
  if (!s.subscribed || !s.enabled.contains({CUPTI_CB_DOMAIN_STATE, CUPTI_CBID_STATE_FATAL_ERROR})) return;
  CUpti_StateData data{};
  data.notification.result = result;
  data.notification.message = message;
  s.callback(s.userdata, CUPTI_CB_DOMAIN_STATE, CUPTI_CBID_STATE_FATAL_ERROR, &data);
}

void fake_cupti_queue_graph_traces(const FakeGraphTrace* traces, size_t count, size_t per_buffer) {
  State& s = state();
  if (s.request == nullptr || !s.graph_trace_enabled) return;  // nobody asked for activity records
  for (size_t first = 0; first < count; first += per_buffer) {
    size_t used = 0;
    const auto [buffer, taken] = fill_buffer(traces + first, std::min(per_buffer, count - first), used);
    if (buffer == nullptr) continue;
    const std::lock_guard lock(s.mutex);
    s.completed.emplace_back(buffer, used);
  }
}

void fake_cupti_hold_graph_traces(const FakeGraphTrace* traces, size_t count) {
  State& s = state();
  if (s.request == nullptr || !s.graph_trace_enabled) return;
  const std::lock_guard lock(s.mutex);
  s.held = traces;
  s.held_count = count;
}

void fake_cupti_record_in_thread_buffer(const FakeGraphTrace* trace) {
  State& s = state();
  if (s.request == nullptr || !s.graph_trace_enabled) return;
  const std::thread::id self = std::this_thread::get_id();
  State::ThreadBuffer current;
  {
    const std::lock_guard lock(s.mutex);
    current = s.thread_buffers[self];
  }
  if (current.buffer == nullptr) {  // requested outside our lock, as CUPTI does
    size_t max_records = 0;
    keep_a_buffer_once(s.request);
    s.request(&current.buffer, &current.size, &max_records);
    current.used = 0;
    if (current.buffer == nullptr || current.size < sizeof(CUpti_ActivityGraphTrace2)) {
      const std::lock_guard lock(s.mutex);
      ++s.declined;
      ++s.dropped;
      return;
    }
  }
  CUpti_ActivityGraphTrace2 record{};
  record.kind = CUPTI_ACTIVITY_KIND_GRAPH_TRACE;
  record.correlationId = trace->correlation_id;
  record.start = trace->start;
  record.end = trace->end;
  record.graphId = trace->graph_id;
  record.streamId = trace->stream_id;
  std::memcpy(current.buffer + current.used, &record, sizeof record);
  current.used += sizeof record;
  const std::lock_guard lock(s.mutex);
  if (current.used + sizeof record > current.size) {
    s.completed.emplace_back(current.buffer, current.used);
    current = {};
  }
  s.thread_buffers[self] = current;
}

void fake_cupti_start_worker(void) {
  State& s = state();
  {
    const std::lock_guard lock(s.mutex);
    if (s.worker) return;
    s.worker = true;
  }
  // Runs until the process exits: CUPTI's worker is not joined either.
  const char* handback = std::getenv("FAKE_CUPTI_WORKER_HANDBACK_MS");
  const std::chrono::milliseconds hold(handback == nullptr ? 0 : std::atoi(handback));
  std::thread([hold] {
    for (;;) {
      deliver_completed(false, hold);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }).detach();
}

size_t fake_cupti_held_records(void) {
  const std::lock_guard lock(state().mutex);
  return state().held_count;
}

size_t fake_cupti_pending_buffers(void) {
  const std::lock_guard lock(state().mutex);
  return state().completed.size();
}

void fake_cupti_set_dropped(size_t count) {
  const std::lock_guard lock(state().mutex);
  state().dropped = count;
}

int fake_cupti_subscribed(void) {
  const std::lock_guard lock(state().mutex);
  return state().subscribed ? 1 : 0;
}

size_t fake_cupti_declined_buffers(void) {
  const std::lock_guard lock(state().mutex);
  return state().declined;
}

}  // extern "C"
