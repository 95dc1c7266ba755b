// The CUDA driver's part in a Python test process (test_python_bootstrap.py), as plain C
// functions for ctypes: the driver simulator behind them, and cuGraphGetNodes and
// cuDriverGetVersion (driver_simulator.cpp) for the injection library to find once this library
// is loaded RTLD_GLOBAL. Called from one thread at a time.
#include <ctime>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include "driver_simulator.h"

namespace {

std::unique_ptr<profilemate::testing::DriverSimulator> g_simulator;
std::vector<FakeGraphTrace> g_launched;  // GPU records of the launches not yet run

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

extern "C" {

// Loads the injection library (and the fake CUPTI named by PROFILEMATE_CUPTI_LIBRARY) without
// initialising it. 1 when done.
int fake_driver_open(const char* injection_library) {
  try {
    g_simulator = std::make_unique<profilemate::testing::DriverSimulator>(injection_library);
    return 1;
  } catch (const std::exception&) {
    return 0;
  }
}

// cuInit as the driver runs it on a thread that Python does not know (a C++ thread of torch's):
// InitializeInjection there, joined. Its result.
int fake_driver_initialize_on_new_thread(void) {
  int result = 0;
  std::thread thread([&result] { result = g_simulator->initialize(); });
  thread.join();
  return result;
}

// PyTorch's capture of one graph (see DriverSimulator::capture).
void fake_driver_capture(uint32_t stream, uint32_t graph_id, uint32_t exec_id, uint64_t nodes) {
  g_simulator->capture(stream, graph_id, exec_id, nodes);
}

// cudaGraphLaunch; the GPU runs it at the next fake_driver_run_gpu.
uint32_t fake_driver_launch(uint32_t exec_id, uint32_t stream) {
  const uint32_t correlation = g_simulator->launch(exec_id, stream);
  g_launched.push_back({correlation, 0, 0, exec_id, stream});
  return correlation;
}

// The GPU runs every launch so far, back to back, `ns_each` each, and CUPTI hands the records over.
void fake_driver_run_gpu(uint64_t ns_each) {
  uint64_t start = realtime_ns();
  for (FakeGraphTrace& trace : g_launched) {
    trace.start = start;
    trace.end = start + ns_each;
    start = trace.end;
  }
  g_simulator->deliver_graph_traces(g_launched, 4);
  g_launched.clear();
}

}  // extern "C"
