// Plays the CUDA runtime and driver against the injection library without a GPU: loads the
// library by path, calls InitializeInjection as cuInit would, and drives the real callback and
// activity-buffer protocols through the fake CUPTI. Handles are the CUPTI ids themselves.
#pragma once

#include <cupti.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fake_cupti.h"

namespace profilemate::testing {

class DriverSimulator {
 public:
  // Also loads the CUPTI named by PROFILEMATE_CUPTI_LIBRARY, the fake the injection library will
  // find there, to play CUPTI's part; when it cannot be loaded, CUPTI's part is silent.
  explicit DriverSimulator(std::string injection_library);
  int initialize();

  // CUPTI's part (see fake_cupti.h).
  bool cupti_subscribed() const;
  void cupti_fatal_error(CUptiResult result, const char* message) const;
  void set_cupti_dropped(size_t count) const;
  // Hands GPU records to the injection library as CUPTI's activity worker would: a few buffers
  // at a time, each delivered by the library's own periodic flush before the next are filled.
  void deliver_graph_traces(const std::vector<FakeGraphTrace>& traces, size_t per_buffer) const;
  // All of them in one delivery: buffer after buffer inside one of the library's periodic
  // flushes, as CUPTI hands over what it holds at a flush. Returns when they are delivered.
  void deliver_graph_traces_in_one_flush(const std::vector<FakeGraphTrace>& traces) const;
  // One GPU record into the calling thread's CUPTI buffer, as CUPTI 13 keeps them per thread
  // (fake_cupti_record_in_thread_buffer): it comes back only once that buffer is full, or at the
  // forced flush at exit.
  void gpu_executed(const FakeGraphTrace& trace) const;
  // CUPTI's own worker thread hands full buffers back too, concurrently with the flushes.
  void start_cupti_worker() const;
  // The same, flushed by the calling thread at once (for timing the record handling).
  void deliver_graph_traces_now(const std::vector<FakeGraphTrace>& traces, size_t per_buffer) const;
  // Fills buffers with GPU records and leaves them with CUPTI, for a later flush.
  void queue_graph_traces(const std::vector<FakeGraphTrace>& traces) const;

  // What the torch profiler (Kineto) does first when it starts, with its TSC clock (its default
  // on Linux): registers a timestamp callback that returns a 3 GHz TSC.
  void register_tsc_clock() const;
  // What the torch profiler (Kineto) does when it starts, through CUPTI's public API: with `tsc`
  // register_tsc_clock(), then it registers its own activity buffer callbacks, which get every buffer from
  // then on, ProfileMate's included (Kineto ignores buffers it did not lend: "bufferCompleted called with
  // unknown buffer").
  void start_torch_profiler(bool tsc) const;
  // GRAPH_TRACE records that reached the torch profiler's own buffers.
  static size_t torch_profiler_records();

  // What PyTorch's CUDAGraph does for one capture (runtime API): cudaStreamBeginCapture,
  // cudaStreamEndCapture, cudaGraphGetNodes, cudaGraphInstantiateWithFlags, cudaGraphDestroy.
  void capture(uint32_t stream, uint32_t graph_id, uint32_t exec_id, size_t nodes,
               cudaStreamCaptureMode mode = cudaStreamCaptureModeGlobal);
  // cudaGraphLaunch, with the driver's cuGraphLaunch nested inside as the runtime does it.
  // Returns the call's correlation id.
  uint32_t launch(uint32_t exec_id, uint32_t stream);
  // The same straight through the driver API (Triton, cuda-python).
  uint32_t driver_launch(uint32_t exec_id, uint32_t stream);
  void destroy_exec(uint32_t exec_id);

  // One API call: ENTER, `inside`, then EXIT with `result`.
  uint32_t call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* params, int result = 0,
                const std::function<void()>& inside = {});

 private:
  std::string path_;
  int (*initialize_)() = nullptr;
  struct FakeCupti {
    decltype(&fake_cupti_api) api = nullptr;
    decltype(&fake_cupti_state_fatal) state_fatal = nullptr;
    decltype(&fake_cupti_queue_graph_traces) queue_graph_traces = nullptr;
    decltype(&fake_cupti_pending_buffers) pending_buffers = nullptr;
    decltype(&fake_cupti_hold_graph_traces) hold_graph_traces = nullptr;
    decltype(&fake_cupti_held_records) held_records = nullptr;
    decltype(&fake_cupti_set_dropped) set_dropped = nullptr;
    decltype(&fake_cupti_subscribed) subscribed = nullptr;
    decltype(&cuptiActivityFlushAll) flush_all = nullptr;
    decltype(&fake_cupti_record_in_thread_buffer) record_in_thread_buffer = nullptr;
    decltype(&fake_cupti_start_worker) start_worker = nullptr;
    decltype(&cuptiActivityRegisterCallbacks) register_callbacks = nullptr;
    decltype(&cuptiActivityRegisterTimestampCallback) register_timestamp = nullptr;
  } fake_;
  std::atomic<uint32_t> next_correlation_{1};
};

// The node count cuGraphGetNodes (exported by the test program) reports for a graph.
void set_node_count(uint32_t graph_id, size_t nodes);

}  // namespace profilemate::testing
