#include "driver_simulator.h"

#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

namespace profilemate::testing {
namespace {

std::mutex g_nodes_mutex;
std::map<uint32_t, size_t> g_nodes;

// The torch profiler's side of CUPTI's buffer protocol (see start_torch_profiler).
struct TorchProfiler {
  std::mutex mutex;
  std::vector<std::unique_ptr<uint64_t[]>> buffers;
  std::set<uint8_t*> lent;
  size_t graph_traces = 0;
  decltype(&cuptiActivityGetNextRecord) next_record = nullptr;
};
TorchProfiler g_torch;
constexpr size_t kTorchBufferBytes = 1 << 20;

uint64_t tsc_clock() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec)) * 3;
}

void CUPTIAPI torch_buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  const std::lock_guard lock(g_torch.mutex);
  g_torch.buffers.push_back(std::make_unique_for_overwrite<uint64_t[]>(kTorchBufferBytes / 8));
  *buffer = reinterpret_cast<uint8_t*>(g_torch.buffers.back().get());
  g_torch.lent.insert(*buffer);
  *size = kTorchBufferBytes;
  *max_records = 0;
}

void CUPTIAPI torch_buffer_completed(CUcontext /*context*/, uint32_t /*stream*/, uint8_t* buffer,
                                     size_t /*size*/, size_t valid) {
  const std::lock_guard lock(g_torch.mutex);
  if (g_torch.lent.erase(buffer) == 0) return;  // not one it lent: ignored
  CUpti_Activity* record = nullptr;
  while (g_torch.next_record(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (record->kind == CUPTI_ACTIVITY_KIND_GRAPH_TRACE) ++g_torch.graph_traces;
  }
}

template <typename Handle>
Handle handle(uint32_t id) {
  // The fake CUPTI reads ids back out of handles: the cast is the point.
  return reinterpret_cast<Handle>(static_cast<uintptr_t>(id));  // NOLINT(performance-no-int-to-ptr)
}

}  // namespace

void set_node_count(uint32_t graph_id, size_t nodes) {
  const std::lock_guard lock(g_nodes_mutex);
  g_nodes[graph_id] = nodes;
}

DriverSimulator::DriverSimulator(std::string injection_library) : path_(std::move(injection_library)) {
  void* library = ::dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) throw std::runtime_error(std::string("cannot load ") + path_ + ": " + ::dlerror());
  initialize_ = reinterpret_cast<int (*)()>(::dlsym(library, "InitializeInjection"));
  if (initialize_ == nullptr) throw std::runtime_error(path_ + " does not export InitializeInjection");
  const char* cupti = std::getenv("PROFILEMATE_CUPTI_LIBRARY");
  if (void* fake = cupti != nullptr ? ::dlopen(cupti, RTLD_NOW | RTLD_LOCAL) : nullptr) {
    const auto bind = [fake](auto& fn, const char* name) {
      fn = reinterpret_cast<std::decay_t<decltype(fn)>>(::dlsym(fake, name));
    };
    bind(fake_.api, "fake_cupti_api");
    bind(fake_.state_fatal, "fake_cupti_state_fatal");
    bind(fake_.queue_graph_traces, "fake_cupti_queue_graph_traces");
    bind(fake_.pending_buffers, "fake_cupti_pending_buffers");
    bind(fake_.hold_graph_traces, "fake_cupti_hold_graph_traces");
    bind(fake_.held_records, "fake_cupti_held_records");
    bind(fake_.set_dropped, "fake_cupti_set_dropped");
    bind(fake_.subscribed, "fake_cupti_subscribed");
    bind(fake_.flush_all, "cuptiActivityFlushAll");
    bind(fake_.record_in_thread_buffer, "fake_cupti_record_in_thread_buffer");
    bind(fake_.start_worker, "fake_cupti_start_worker");
    bind(fake_.register_callbacks, "cuptiActivityRegisterCallbacks");
    bind(fake_.register_timestamp, "cuptiActivityRegisterTimestampCallback");
    bind(g_torch.next_record, "cuptiActivityGetNextRecord");
  }
}

bool DriverSimulator::cupti_subscribed() const {
  return fake_.subscribed != nullptr && fake_.subscribed() != 0;
}

void DriverSimulator::cupti_fatal_error(CUptiResult result, const char* message) const {
  if (fake_.state_fatal != nullptr) fake_.state_fatal(result, message);
}

void DriverSimulator::set_cupti_dropped(size_t count) const {
  if (fake_.set_dropped != nullptr) fake_.set_dropped(count);
}

void DriverSimulator::deliver_graph_traces(const std::vector<FakeGraphTrace>& traces,
                                           size_t per_buffer) const {
  if (fake_.queue_graph_traces == nullptr) return;
  static std::mutex one_activity_worker;  // CUPTI fills buffers from one worker
  const std::lock_guard lock(one_activity_worker);
  constexpr size_t kBuffersAtOnce = 4;  // of the library's pool of 8
  for (size_t first = 0; first < traces.size(); first += kBuffersAtOnce * per_buffer) {
    const size_t count = std::min(kBuffersAtOnce * per_buffer, traces.size() - first);
    fake_.queue_graph_traces(traces.data() + first, count, per_buffer);
    for (int waited_ms = 0; fake_.pending_buffers() > 0 && waited_ms < 10'000; ++waited_ms) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

void DriverSimulator::deliver_graph_traces_in_one_flush(const std::vector<FakeGraphTrace>& traces) const {
  if (fake_.hold_graph_traces == nullptr) return;
  fake_.hold_graph_traces(traces.data(), traces.size());
  for (int waited_ms = 0; fake_.held_records() > 0 && waited_ms < 60'000; ++waited_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void DriverSimulator::gpu_executed(const FakeGraphTrace& trace) const {
  if (fake_.record_in_thread_buffer != nullptr) fake_.record_in_thread_buffer(&trace);
}

void DriverSimulator::start_cupti_worker() const {
  if (fake_.start_worker != nullptr) fake_.start_worker();
}

int DriverSimulator::initialize() {
  return initialize_();
}

void DriverSimulator::deliver_graph_traces_now(const std::vector<FakeGraphTrace>& traces,
                                               size_t per_buffer) const {
  if (fake_.queue_graph_traces == nullptr) return;
  fake_.queue_graph_traces(traces.data(), traces.size(), per_buffer);
  fake_.flush_all(0);
}

void DriverSimulator::queue_graph_traces(const std::vector<FakeGraphTrace>& traces) const {
  if (fake_.queue_graph_traces != nullptr)
    fake_.queue_graph_traces(traces.data(), traces.size(), traces.size());
}

void DriverSimulator::register_tsc_clock() const {
  if (fake_.register_timestamp != nullptr) fake_.register_timestamp(&tsc_clock);
}

void DriverSimulator::start_torch_profiler(bool tsc) const {
  if (fake_.register_callbacks == nullptr) return;
  if (tsc) register_tsc_clock();
  fake_.register_callbacks(&torch_buffer_requested, &torch_buffer_completed);
}

size_t DriverSimulator::torch_profiler_records() {
  const std::lock_guard lock(g_torch.mutex);
  return g_torch.graph_traces;
}

uint32_t DriverSimulator::call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* params,
                               int result, const std::function<void()>& inside) {
  const uint32_t correlation = next_correlation_.fetch_add(1);
  uint64_t correlation_data = 0;
  if (fake_.api != nullptr)
    fake_.api(domain, cbid, CUPTI_API_ENTER, params, correlation, nullptr, &correlation_data);
  if (inside) inside();
  if (fake_.api != nullptr)
    fake_.api(domain, cbid, CUPTI_API_EXIT, params, correlation, &result, &correlation_data);
  return correlation;
}

void DriverSimulator::capture(uint32_t stream, uint32_t graph_id, uint32_t exec_id, size_t nodes,
                              cudaStreamCaptureMode mode) {
  set_node_count(graph_id, nodes);
  // Each runtime call makes its driver call inside, as the runtime does: both callbacks fire.
  cudaStreamBeginCapture_v10000_params begin{handle<cudaStream_t>(stream), mode};
  call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCapture_v10000, &begin, 0, [&] {
    cuStreamBeginCapture_v2_params driver{handle<CUstream>(stream), static_cast<CUstreamCaptureMode>(mode)};
    call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2, &driver);
  });

  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture_v10000_params end{handle<cudaStream_t>(stream), &graph};
  call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaStreamEndCapture_v10000, &end, 0, [&] {
    CUgraph driver_graph = nullptr;
    cuStreamEndCapture_params driver{handle<CUstream>(stream), &driver_graph};
    call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture, &driver, 0,
         [&] { driver_graph = handle<CUgraph>(graph_id); });
    graph = driver_graph;
  });

  size_t counted = 0;
  cudaGraphGetNodes_v10000_params get_nodes{handle<cudaGraph_t>(graph_id), nullptr, &counted};
  call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaGraphGetNodes_v10000, &get_nodes);

  cudaGraphExec_t exec = nullptr;
  cudaGraphInstantiateWithFlags_v11040_params instantiate{
      &exec, handle<cudaGraph_t>(graph_id),
      cudaGraphInstantiateFlagAutoFreeOnLaunch | cudaGraphInstantiateFlagUseNodePriority};
  call(
      CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiateWithFlags_v11040,
      &instantiate, 0, [&] {
        CUgraphExec driver_exec = nullptr;
        cuGraphInstantiateWithFlags_params driver{&driver_exec, handle<CUgraph>(graph_id), instantiate.flags};
        call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiateWithFlags, &driver, 0,
             [&] { driver_exec = handle<CUgraphExec>(exec_id); });
        exec = driver_exec;
      });

  cudaGraphDestroy_v10000_params destroy{handle<cudaGraph_t>(graph_id)};
  call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaGraphDestroy_v10000, &destroy);
}

uint32_t DriverSimulator::launch(uint32_t exec_id, uint32_t stream) {
  cudaGraphLaunch_v10000_params params{handle<cudaGraphExec_t>(exec_id), handle<cudaStream_t>(stream)};
  return call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000, &params, 0,
              [&] { driver_launch(exec_id, stream); });
}

uint32_t DriverSimulator::driver_launch(uint32_t exec_id, uint32_t stream) {
  cuGraphLaunch_params params{handle<CUgraphExec>(exec_id), handle<CUstream>(stream)};
  return call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch, &params);
}

void DriverSimulator::destroy_exec(uint32_t exec_id) {
  cudaGraphExecDestroy_v10000_params params{handle<cudaGraphExec_t>(exec_id)};
  call(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaGraphExecDestroy_v10000, &params, 0, [&] {
    cuGraphExecDestroy_params driver{handle<CUgraphExec>(exec_id)};
    call(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuGraphExecDestroy, &driver);
  });
}

}  // namespace profilemate::testing

// The driver entry points the injection library looks up: this program is "the driver".
extern "C" __attribute__((visibility("default"))) CUresult cuGraphGetNodes(CUgraph graph, CUgraphNode* nodes,
                                                                           size_t* count) {
  (void)nodes;
  const std::lock_guard lock(profilemate::testing::g_nodes_mutex);
  const auto it =
      profilemate::testing::g_nodes.find(static_cast<uint32_t>(reinterpret_cast<uintptr_t>(graph)));
  *count = it == profilemate::testing::g_nodes.end() ? 0 : it->second;
  return CUDA_SUCCESS;
}

extern "C" __attribute__((visibility("default"))) CUresult cuDriverGetVersion(int* version) {
  *version = 13000;
  return CUDA_SUCCESS;
}
