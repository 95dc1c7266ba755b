// Cost of recording one event (the application's side) and throughput of the writer thread's
// encoding, each next to a baseline measured in the same run.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "bench_session.h"
#include "log_file.h"
#include "profilemate/recorder.h"

namespace {

// One recorder for the whole program, writing to a throwaway session.
bool recorder_ready(benchmark::State& state) {
  static const bool started = [] {
    profilemate::bench::use_throwaway_session();
    return pm_start() == PM_OK;
  }();
  if (!started) state.SkipWithError("recorder did not start");
  return started;
}

profilemate_GraphReplay sample_replay() {
  profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
  replay.exec_id = 17;
  replay.stream_id = 7;
  replay.thread = 1;
  replay.cpu_enter_ns = 1'234'567'890;
  replay.cpu_duration_ns = 15'000;
  replay.has_gpu_start_offset_ns = true;
  replay.gpu_start_offset_ns = 30'000;
  replay.has_gpu_duration_ns = true;
  replay.gpu_duration_ns = 4'000'000;
  return replay;
}

// Baseline: one CLOCK_REALTIME read, which every event needs anyway.
void BM_Baseline_ClockGettime(benchmark::State& state) {
  timespec ts{};
  for (auto _ : state) {
    ::clock_gettime(CLOCK_REALTIME, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_Baseline_ClockGettime)->Threads(1)->Threads(2)->Repetitions(5)->ReportAggregatesOnly(true);

// pm_record of a graph replay that is accepted: batches that fit the thread's buffer, timed,
// with the writer draining between batches (untimed).
constexpr int kBatch = 4096;

void BM_RecordGraphReplay(benchmark::State& state) {
  if (!recorder_ready(state)) return;
  profilemate_GraphReplay replay = sample_replay();
  uint64_t dropped = 0;
  double timed_seconds = 0;
  for (auto _ : state) {
    const auto begin = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatch; ++i) {
      replay.cpu_enter_ns++;
      dropped += pm_record(profilemate_Record_graph_replay_tag, &replay) == PM_DROPPED;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    state.SetIterationTime(seconds);
    timed_seconds += seconds;
    pm_flush(1000);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["ns_per_event"] =
      benchmark::Counter(timed_seconds * 1e9 / static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kAvgThreads);
  state.counters["dropped"] = static_cast<double>(dropped);
}
// Fixed iteration counts keep the throwaway session small: what is accepted is written.
BENCHMARK(BM_RecordGraphReplay)
    ->UseManualTime()
    ->Iterations(500)
    ->Threads(1)
    ->Threads(2)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

// The same at saturation: nothing waits for the writer, so most events find the buffer full and
// are dropped and counted. The cost of the drop path and the drop rate are reported.
void BM_RecordGraphReplay_Saturated(benchmark::State& state) {
  if (!recorder_ready(state)) return;
  profilemate_GraphReplay replay = sample_replay();
  uint64_t dropped = 0;
  for (auto _ : state) {
    replay.cpu_enter_ns++;
    dropped += pm_record(profilemate_Record_graph_replay_tag, &replay) == PM_DROPPED;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["dropped_pct"] = benchmark::Counter(
      100.0 * static_cast<double>(dropped) / static_cast<double>(std::max<uint64_t>(1, state.iterations())),
      benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_RecordGraphReplay_Saturated)
    ->Iterations(20'000'000)
    ->Threads(1)
    ->Threads(2)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

// The writer thread's work per event: nanopb encoding and buffered writes to a file.
void BM_WriterEncodeAndWrite(benchmark::State& state) {
  const std::string path =
      std::filesystem::temp_directory_path() / ("profilemate_bench_writer_" + std::to_string(::getpid()));
  profilemate::recorder::LogFile log(
      profilemate::recorder::UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600)), path,
      1 << 20);
  profilemate_GraphReplay replay = sample_replay();
  for (auto _ : state) {
    replay.cpu_enter_ns += 150'000;
    log.append(profilemate_Record_graph_replay_tag, profilemate_GraphReplay_fields, &replay);
  }
  log.write_out();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(log.bytes_written()));
  state.counters["bytes_per_event"] =
      static_cast<double>(log.bytes_written()) / static_cast<double>(state.iterations());
  std::filesystem::remove(path);
}
BENCHMARK(BM_WriterEncodeAndWrite)->Repetitions(5)->ReportAggregatesOnly(true);

// Resident memory while one thread records 10 M events: it must stay flat, bounded by the
// buffer budget, however long the run.
uint64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// Run it alone (--benchmark_filter=ResidentMemory) so that "before" is before the recorder
// started.
void BM_ResidentMemoryOver10MEvents(benchmark::State& state) {
  const uint64_t before = resident_kib();
  if (!recorder_ready(state)) return;
  profilemate_GraphReplay replay = sample_replay();
  for (auto _ : state) {
    uint64_t at_1m = 0;
    uint64_t dropped = 0;
    for (uint64_t i = 1; i <= 10'000'000; ++i) {
      replay.cpu_enter_ns = i;
      dropped += pm_record(profilemate_Record_graph_replay_tag, &replay) == PM_DROPPED;
      if (i == 1'000'000) at_1m = resident_kib();
    }
    state.counters["dropped_pct"] = static_cast<double>(dropped) / 1e5;
    pm_flush(5000);
    state.counters["rss_before_MiB"] = static_cast<double>(before) / 1024;
    state.counters["rss_at_1M_MiB"] = static_cast<double>(at_1m) / 1024;
    state.counters["rss_at_10M_MiB"] = static_cast<double>(resident_kib()) / 1024;
  }
}
BENCHMARK(BM_ResidentMemoryOver10MEvents)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
