// Converter throughput on a generated 10 M-event session, next to a plain read of the same bytes.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <vector>

#include "export_session.h"
#include "synthetic_session.h"
#include "test_support.h"

namespace {

struct BenchSession {
  std::string dir;
  profilemate::bench::WrittenSession written;
};

// The session, its log plain or zstd-compressed (as the recorder writes it by default).
// PROFILEMATE_BENCH_SESSION_DIR keeps the session for measuring the CLI on it (scripts/bench.sh;
// the compressed one gets "_zstd" after it); PROFILEMATE_BENCH_EVENTS sets its size.
const BenchSession& bench_session(bool compressed = false) {
  static BenchSession sessions[2];
  BenchSession& s = sessions[compressed ? 1 : 0];
  if (!s.dir.empty()) return s;
  const char* keep = std::getenv("PROFILEMATE_BENCH_SESSION_DIR");
  s.dir = keep != nullptr ? std::string(keep)
                          : (std::filesystem::temp_directory_path() /
                             ("profilemate_bench_session_" + std::to_string(::getpid())))
                                .string();
  if (compressed) s.dir += "_zstd";
  profilemate::bench::SessionShape shape;
  shape.compress = compressed;
  if (const char* events = std::getenv("PROFILEMATE_BENCH_EVENTS")) shape.events = std::stoull(events);
  s.written = profilemate::bench::write_synthetic_session(s.dir, shape);
  if (keep == nullptr) {
    std::atexit([] {
      std::error_code ignored;
      for (const BenchSession& session : sessions) {
        if (!session.dir.empty()) std::filesystem::remove_all(session.dir, ignored);
      }
    });
  }
  return s;
}

// Wall-clock seconds of each timed run, for BM_Summary's ratios: the export uses both cores, so
// its figures are by the clock, as the baselines' are.
struct Figures {
  // [0] the plain log, [1] the compressed one
  std::vector<double> read_s[2], export_s[2], export_cpu_s[2];
  std::vector<double> python_s;
  uint64_t python_records = 0;
};
Figures& figures() {
  static Figures f;
  return f;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

double process_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Times `work` by the clock (and the process's CPU time, when `cpu` is given). The file system's
// dirty pages are written out first, so that a run does not wait for the earlier runs' files to
// reach the disk (a single export's CSV files fit in the page cache).
template <typename Work>
void timed(std::vector<double>& wall, std::vector<double>* cpu, Work&& work) {
  ::sync();
  const double cpu_before = process_cpu_seconds();
  const auto before = std::chrono::steady_clock::now();
  work();
  wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count());
  if (cpu != nullptr) cpu->push_back(process_cpu_seconds() - cpu_before);
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
  const bool compressed = state.range(0) != 0;
  const BenchSession& session = bench_session(compressed);
  for (auto _ : state) {
    timed(figures().read_s[compressed ? 1 : 0], nullptr, [&] {
      const std::string bytes = profilemate::testing::read_file(session.dir + "/process_1.pmlog");
      uint64_t sum = 0;
      for (const char c : bytes) sum += static_cast<uint8_t>(c);
      benchmark::DoNotOptimize(sum);
    });
  }
  report(state, session);
}
BENCHMARK(BM_Baseline_ReadSessionBytes)
    ->ArgName("zstd")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
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
    timed(figures().python_s, nullptr, [&] {
      if (std::system(command.c_str()) != 0) state.SkipWithError("the Python converter failed");
    });
  }
  figures().python_records = std::min(kRecords, session.written.events);
  state.SetItemsProcessed(
      static_cast<int64_t>(state.iterations() * std::min(kRecords, session.written.events)));
}
BENCHMARK(BM_Baseline_PythonConverter)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

void BM_ExportTenMillionEvents(benchmark::State& state) {
  const bool compressed = state.range(0) != 0;
  const BenchSession& session = bench_session(compressed);
  const std::string out = session.dir + "/csv";
  for (auto _ : state) {
    timed(figures().export_s[compressed ? 1 : 0], &figures().export_cpu_s[compressed ? 1 : 0], [&] {
      const auto result = profilemate::exporter::export_session(session.dir, out);
      benchmark::DoNotOptimize(result.records);
    });
  }
  report(state, session);
}
BENCHMARK(BM_ExportTenMillionEvents)
    ->ArgName("zstd")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1)
    ->Repetitions(3)
    ->ReportAggregatesOnly(true);

// The throughput figures from the medians of the runs above, in one place: the export's
// records/s by the clock (and by the process's CPU time, all threads), the Python converter's,
// and the ratios to it and to reading the bytes, for the plain log and (suffix _zstd) the
// compressed one. Needs the benchmarks above in the same run.
void BM_Summary_ExportThroughput(benchmark::State& state) {
  const Figures& f = figures();
  for (auto _ : state) {
  }
  for (int zstd = 0; zstd < 2; ++zstd) {
    if (f.read_s[zstd].empty() || f.export_s[zstd].empty() || f.python_s.empty()) {
      state.SkipWithError(
          "run BM_Baseline_ReadSessionBytes, BM_Baseline_PythonConverter and "
          "BM_ExportTenMillionEvents (both logs) in the same run");
      return;
    }
  }
  const auto events = static_cast<double>(bench_session().written.events);
  const double python_rate = static_cast<double>(f.python_records) / median(f.python_s);
  state.counters["python_Mrec_per_s"] = python_rate * 1e-6;
  for (int zstd = 0; zstd < 2; ++zstd) {
    const std::string suffix = zstd != 0 ? "_zstd" : "";
    const double export_rate = events / median(f.export_s[zstd]);
    state.counters["export_Mrec_per_s" + suffix] = export_rate * 1e-6;
    state.counters["export_cpu_Mrec_per_s" + suffix] = events / median(f.export_cpu_s[zstd]) * 1e-6;
    state.counters["export_over_python" + suffix] = export_rate / python_rate;
    state.counters["read_s" + suffix] = median(f.read_s[zstd]);
    state.counters["export_s" + suffix] = median(f.export_s[zstd]);
    state.counters["export_over_read" + suffix] = median(f.export_s[zstd]) / median(f.read_s[zstd]);
  }
}
BENCHMARK(BM_Summary_ExportThroughput)->Iterations(1);

}  // namespace
