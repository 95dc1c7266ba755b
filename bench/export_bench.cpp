// Converter throughput on a generated 10 M-event session, next to a plain read of the same bytes.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "export_session.h"
#include "synthetic_session.h"
#include "test_support.h"

namespace {

struct BenchSession {
  std::string dir;
  profilemate::bench::WrittenSession written;
};

const BenchSession& bench_session() {
  static const BenchSession session = [] {
    BenchSession s;
    // PROFILEMATE_BENCH_SESSION_DIR keeps the session for measuring the CLI on it (scripts/bench.sh);
    // PROFILEMATE_BENCH_EVENTS sets its size.
    const char* keep = std::getenv("PROFILEMATE_BENCH_SESSION_DIR");
    s.dir = keep != nullptr ? std::filesystem::path(keep)
                            : std::filesystem::temp_directory_path() /
                                  ("profilemate_bench_session_" + std::to_string(::getpid()));
    profilemate::bench::SessionShape shape;
    if (const char* events = std::getenv("PROFILEMATE_BENCH_EVENTS")) shape.events = std::stoull(events);
    s.written = profilemate::bench::write_synthetic_session(s.dir, shape);
    return s;
  }();
  // Registered after `session`, so it runs before `session` is destroyed.
  static const bool cleanup_registered = std::getenv("PROFILEMATE_BENCH_SESSION_DIR") != nullptr ||
                                         std::atexit([] {
                                           std::error_code ignored;
                                           std::filesystem::remove_all(session.dir, ignored);
                                         }) == 0;
  (void)cleanup_registered;
  return session;
}

void report(benchmark::State& state, const BenchSession& session) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * session.written.events));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * session.written.bytes));
  state.counters["events"] = static_cast<double>(session.written.events);
  state.counters["bytes_per_event"] =
      static_cast<double>(session.written.bytes) / static_cast<double>(session.written.events);
  state.counters["bytes_per_replay"] =
      static_cast<double>(session.written.replay_bytes) / static_cast<double>(session.written.replays);
}

// Baseline: touching every byte of the logs once.
void BM_Baseline_ReadSessionBytes(benchmark::State& state) {
  const BenchSession& session = bench_session();
  for (auto _ : state) {
    const std::string bytes = profilemate::testing::read_file(session.dir + "/process_1.pmlog");
    uint64_t sum = 0;
    for (const char c : bytes) sum += static_cast<uint8_t>(c);
    benchmark::DoNotOptimize(sum);
  }
  report(state, session);
}
BENCHMARK(BM_Baseline_ReadSessionBytes)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true);

// Baseline: the obvious Python converter (python3-protobuf and the csv module) on the first
// million records of the same log; its records/s next to the export's.
void BM_Baseline_PythonConverter(benchmark::State& state) {
  const BenchSession& session = bench_session();
  constexpr uint64_t kRecords = 1'000'000;
  for (auto _ : state) {
    const std::string command =
        "/usr/bin/python3 " PROFILEMATE_SOURCE_DIR "/bench/python_export_baseline.py " PROFILEMATE_SOURCE_DIR
        "/proto/profilemate.proto " +
        session.dir + "/process_1.pmlog " + session.dir + "/python.csv " + std::to_string(kRecords);
    if (std::system(command.c_str()) != 0) state.SkipWithError("the Python converter failed");
  }
  state.SetItemsProcessed(
      static_cast<int64_t>(state.iterations() * std::min(kRecords, session.written.events)));
}
BENCHMARK(BM_Baseline_PythonConverter)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

void BM_ExportTenMillionEvents(benchmark::State& state) {
  const BenchSession& session = bench_session();
  const std::string out = session.dir + "/csv";
  for (auto _ : state) {
    const auto result = profilemate::exporter::export_session(session.dir, out);
    benchmark::DoNotOptimize(result.records);
  }
  report(state, session);
}
BENCHMARK(BM_ExportTenMillionEvents)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true);

}  // namespace
