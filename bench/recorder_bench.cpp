// Cost of recording one event (the application's side) and throughput of the writer thread's
// encoding, each next to a baseline measured in the same run.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <pb_encode.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "bench_session.h"
#include "log_file.h"
#include "profilemate/recorder.h"
#include "synthetic_session.h"

namespace {

// One recorder for the whole program, writing to a throwaway session; restarted when a
// benchmark asks for the other compression setting (PROFILEMATE_COMPRESSION).
bool recorder_ready(benchmark::State& state, bool compress = true) {
  static int mode = -1;
  profilemate::bench::use_throwaway_session();
  if (mode != static_cast<int>(compress)) {
    pm_stop();
    ::setenv("PROFILEMATE_COMPRESSION", compress ? "zstd" : "none", 1);
    mode = pm_start() == PM_OK ? static_cast<int>(compress) : -1;
  }
  if (mode < 0) state.SkipWithError("recorder did not start");
  return mode >= 0;
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

// Argument: compression by the writer thread (zstd: 1, none: 0), which the application threads
// must not feel.
void BM_RecordGraphReplay(benchmark::State& state) {
  if (!recorder_ready(state, state.range(0) != 0)) return;
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
    ->ArgName("zstd")
    ->Arg(0)
    ->Arg(1)
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

// The writer thread's work per event: encoding and buffered writes to a file, next to two
// baselines: copying the struct's bytes, and the writer as it was before its encoding plans
// (nanopb's pb_encode per record, then the framing slid into place).
std::string scratch_path() {
  return std::filesystem::temp_directory_path() / ("profilemate_bench_writer_" + std::to_string(::getpid()));
}

void report_writer(benchmark::State& state, uint64_t bytes_written) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(bytes_written));
  state.counters["bytes_per_event"] =
      static_cast<double>(bytes_written) / static_cast<double>(state.iterations());
}

// A 1 MiB buffer written to a file when full, as the writer's.
class BufferedFile {
 public:
  BufferedFile() : fd_(::open(scratch_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600)) {}
  ~BufferedFile() {
    flush();
    ::close(fd_);
    std::filesystem::remove(scratch_path());
  }
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;
  uint8_t* reserve(size_t bytes) {
    if (kCapacity - used_ < bytes) flush();
    return buffer_.get() + used_;
  }
  void commit(size_t bytes) { used_ += bytes; }
  void flush() {
    written_ += static_cast<uint64_t>(std::max<ssize_t>(0, ::write(fd_, buffer_.get(), used_)));
    used_ = 0;
  }
  [[nodiscard]] uint64_t written() const { return written_; }

 private:
  static constexpr size_t kCapacity = 1 << 20;
  int fd_;
  std::unique_ptr<uint8_t[]> buffer_ = std::make_unique<uint8_t[]>(kCapacity);
  size_t used_ = 0;
  uint64_t written_ = 0;
};

void BM_Baseline_WriterMemcpy(benchmark::State& state) {
  uint64_t written = 0;
  {
    BufferedFile file;
    profilemate_GraphReplay replay = sample_replay();
    for (auto _ : state) {
      replay.cpu_enter_ns += 150'000;
      std::memcpy(file.reserve(sizeof replay), &replay, sizeof replay);
      file.commit(sizeof replay);
    }
    file.flush();
    written = file.written();
  }
  report_writer(state, written);
}
BENCHMARK(BM_Baseline_WriterMemcpy)->Repetitions(5)->ReportAggregatesOnly(true);

uint8_t* put_varint(uint8_t* out, uint64_t value) {
  for (; value >= 0x80; value >>= 7) *out++ = static_cast<uint8_t>(value | 0x80);
  *out++ = static_cast<uint8_t>(value);
  return out;
}

void BM_Baseline_WriterNanopb(benchmark::State& state) {
  constexpr size_t kFraming = 5 + 2 + 5;
  uint64_t written = 0;
  {
    BufferedFile file;
    profilemate_GraphReplay replay = sample_replay();
    for (auto _ : state) {
      replay.cpu_enter_ns += 150'000;
      uint8_t* out = file.reserve(kFraming + profilemate_GraphReplay_size);
      pb_ostream_t stream = pb_ostream_from_buffer(out + kFraming, profilemate_GraphReplay_size);
      pb_encode(&stream, profilemate_GraphReplay_fields, &replay);
      const size_t body = stream.bytes_written;
      uint8_t prefix[kFraming];
      uint8_t* end = put_varint(put_varint(prefix + 5, (profilemate_Record_graph_replay_tag << 3) | 2), body);
      const auto inner = static_cast<size_t>(end - (prefix + 5));
      uint8_t* cursor = put_varint(out, inner + body);
      std::memcpy(cursor, prefix + 5, inner);
      std::memmove(cursor + inner, out + kFraming, body);
      file.commit(static_cast<size_t>(cursor + inner + body - out));
    }
    file.flush();
    written = file.written();
  }
  report_writer(state, written);
}
BENCHMARK(BM_Baseline_WriterNanopb)->Repetitions(5)->ReportAggregatesOnly(true);

// Argument: zstd compression of each 1 MiB buffer (1) or none (0).
void BM_WriterEncodeAndWrite(benchmark::State& state) {
  const std::string path = scratch_path();
  profilemate::recorder::LogFile log(
      profilemate::recorder::UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600)), path,
      1 << 20, 0, 0, state.range(0) != 0);
  profilemate_GraphReplay replay = sample_replay();
  for (auto _ : state) {
    replay.cpu_enter_ns += 150'000;
    log.append(profilemate_Record_graph_replay_tag, &replay);
  }
  log.write_out();
  report_writer(state, log.bytes_written());
  std::filesystem::remove(path);
}
BENCHMARK(BM_WriterEncodeAndWrite)
    ->ArgName("zstd")
    ->Arg(0)
    ->Arg(1)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

// The replay stream of bench/synthetic_session.cpp (2 M events: 40 graph replays per step
// among the step's other records) through the writer's encoder and file, compressed (1) or
// not (0): bytes on disk per graph replay (the whole file over the replays) and the writer's
// time per event, event building included.
void BM_LogBytesPerGraphReplay(benchmark::State& state) {
  const std::string dir = scratch_path() + "_session";
  profilemate::bench::SessionShape shape;
  shape.events = 2'000'000;
  shape.compress = state.range(0) != 0;
  profilemate::bench::WrittenSession written;
  for (auto _ : state) written = profilemate::bench::write_synthetic_session(dir, shape);
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(static_cast<int64_t>(written.events));
  state.counters["file_bytes_per_replay"] =
      static_cast<double>(written.bytes) / static_cast<double>(written.replays);
  state.counters["file_bytes_per_event"] =
      static_cast<double>(written.bytes) / static_cast<double>(written.events);
}
BENCHMARK(BM_LogBytesPerGraphReplay)
    ->ArgName("zstd")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

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
