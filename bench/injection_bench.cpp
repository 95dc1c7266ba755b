// ProfileMate's own cost per CUDA graph replay: the CUPTI callbacks of one cudaGraphLaunch
// (runtime ENTER/EXIT around the driver's ENTER/EXIT) plus its GPU record, driven through the
// fake CUPTI. The baseline is the same sequence with nobody subscribed: the simulator's and the
// fake's own cost, measured in the same run.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <time.h>

#include <cstdlib>
#include <vector>

#include "bench_session.h"
#include "driver_simulator.h"

namespace {

constexpr uint32_t kBatch = 1000;  // launches per GPU record delivery

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

profilemate::testing::DriverSimulator& simulator(bool subscribed) {
  static profilemate::testing::DriverSimulator* sim = [] {
    profilemate::bench::use_throwaway_session();
    ::setenv("PROFILEMATE_ENABLE", "1", 1);
    ::setenv("PROFILEMATE_CUPTI_LIBRARY", FAKE_CUPTI_LIBRARY, 1);
    static profilemate::testing::DriverSimulator instance(PROFILEMATE_INJECTION_LIBRARY);
    return &instance;
  }();
  static bool initialized = false;
  if (subscribed && !initialized) {
    sim->initialize();
    sim->capture(7, 1, 101, 400);
    initialized = true;
  }
  return *sim;
}

void run_replays(benchmark::State& state, profilemate::testing::DriverSimulator& sim) {
  std::vector<FakeGraphTrace> traces;
  traces.reserve(kBatch);
  for (auto _ : state) {
    traces.clear();
    const uint64_t base = realtime_ns();
    for (uint32_t i = 0; i < kBatch; ++i) {
      const uint32_t correlation = sim.launch(101, 7);
      traces.push_back({correlation, base + i * 1000, base + i * 1000 + 500, 101, 7});
    }
    sim.deliver_graph_traces_now(traces, kBatch);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["ns_per_replay"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Registered first: it must run before anything subscribes.
void BM_Replay_Baseline_NotSubscribed(benchmark::State& state) {
  run_replays(state, simulator(false));
}
BENCHMARK(BM_Replay_Baseline_NotSubscribed)->Iterations(200)->Repetitions(5)->ReportAggregatesOnly(true);

void BM_Replay_WithProfileMate(benchmark::State& state) {
  run_replays(state, simulator(true));
}
BENCHMARK(BM_Replay_WithProfileMate)->Iterations(200)->Repetitions(5)->ReportAggregatesOnly(true);

}  // namespace
