// Stress run of the recorder as a busy server drives it: application threads each record graph
// replays at a paced rate (in 1 ms batches, catching up when a thread wakes late) for a while;
// prints what was recorded, what was dropped, the rates achieved, and what reached the log.
// Not a test: drops depend on the machine. Usage:
//   profilemate_recorder_stress [--threads 4] [--rate 250000] [--seconds 20]
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_session.h"
#include "pmlog_reader.h"
#include "profilemate/recorder.h"

namespace {

struct Options {
  unsigned threads = 4;
  double rate = 250'000;  // replays per second per thread
  double seconds = 20;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const double value = std::strtod(argv[i + 1], nullptr);
    if (flag == "--threads") {
      options.threads = static_cast<unsigned>(value);
    } else if (flag == "--rate") {
      options.rate = value;
    } else if (flag == "--seconds") {
      options.seconds = value;
    } else {
      std::fprintf(stderr, "unknown flag %s (expected --threads, --rate, --seconds)\n", argv[i]);
      std::exit(2);
    }
  }
  if (options.threads == 0 || options.rate <= 0 || options.seconds <= 0) {
    std::fprintf(stderr, "--threads, --rate and --seconds must be positive\n");
    std::exit(2);
  }
  return options;
}

struct ThreadResult {
  uint64_t recorded = 0;
  uint64_t dropped = 0;
  double seconds = 0;
  uint32_t index = 0;
};

ThreadResult replay_paced(const Options& options, uint32_t exec_id) {
  using Clock = std::chrono::steady_clock;
  ThreadResult result;
  result.index = pm_thread();
  const auto total = static_cast<uint64_t>(options.rate * options.seconds);
  profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
  replay.exec_id = exec_id;
  replay.stream_id = 1;
  replay.thread = result.index;
  replay.cpu_duration_ns = 4'000;
  replay.has_gpu_start_offset_ns = true;
  replay.gpu_start_offset_ns = 30'000;
  replay.has_gpu_duration_ns = true;
  replay.gpu_duration_ns = 2'000'000;
  const Clock::time_point start = Clock::now();
  timespec next{};
  ::clock_gettime(CLOCK_MONOTONIC, &next);
  for (uint64_t sent = 0; sent < total;) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const uint64_t due = std::min(total, static_cast<uint64_t>(elapsed * options.rate) + 1);
    for (; sent < due; ++sent) {
      replay.cpu_enter_ns = pm_now();
      (pm_record(profilemate_Record_graph_replay_tag, &replay) == PM_OK ? result.recorded : result.dropped) +=
          1;
    }
    next.tv_nsec += 1'000'000;
    if (next.tv_nsec >= 1'000'000'000) {
      next.tv_nsec -= 1'000'000'000;
      ++next.tv_sec;
    }
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr);
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

// CPU seconds the writer thread ("profilemate-wr") has used so far, from /proc.
double writer_cpu_seconds() {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name != "profilemate-wr") continue;
    std::ifstream stat(task.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));  // after "pid (comm) "
    std::string field;
    uint64_t ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::stoull(field);  // utime, stime
    }
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  profilemate::bench::use_throwaway_session();
  if (pm_start() != PM_OK) return 1;
  const std::string log_path = pm_log_path();
  std::printf(
      "%u threads x %.0f replays/s for %.1f s (PROFILEMATE_BUFFER_MB=%s, PROFILEMATE_MAX_THREADS=%s)\n",
      options.threads, options.rate, options.seconds,
      std::getenv("PROFILEMATE_BUFFER_MB") != nullptr ? std::getenv("PROFILEMATE_BUFFER_MB") : "default",
      std::getenv("PROFILEMATE_MAX_THREADS") != nullptr ? std::getenv("PROFILEMATE_MAX_THREADS") : "default");

  std::vector<ThreadResult> results(options.threads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < options.threads; ++t) {
    threads.emplace_back([&, t] { results[t] = replay_paced(options, t + 1); });
  }
  for (std::thread& thread : threads) thread.join();
  const double writer_cpu = writer_cpu_seconds();
  pm_stop();

  uint64_t recorded = 0;
  uint64_t dropped = 0;
  for (unsigned t = 0; t < options.threads; ++t) {
    const ThreadResult& r = results[t];
    std::printf("thread %u: recorded %llu, dropped %llu, %.0f replays/s over %.2f s\n", t + 1,
                static_cast<unsigned long long>(r.recorded), static_cast<unsigned long long>(r.dropped),
                static_cast<double>(r.recorded + r.dropped) / r.seconds, r.seconds);
    recorded += r.recorded;
    dropped += r.dropped;
  }
  // What reached the file: every recorded replay, and the drops the writer counted.
  uint64_t in_log = 0;
  std::map<int, uint64_t> drops_in_log;  // by reason, summed over threads (last totals)
  std::map<std::pair<uint32_t, int>, uint64_t> last_drop;
  profilemate::Header header;
  profilemate::reader::read_log(log_path, header, [&](profilemate::Record& record) {
    if (record.has_graph_replay()) ++in_log;
    if (record.has_dropped_records()) {
      const profilemate::DroppedRecords& d = record.dropped_records();
      last_drop[{d.thread(), d.reason()}] = d.dropped();
    }
  });
  for (const auto& [key, count] : last_drop) drops_in_log[key.second] += count;
  uint64_t logged_drops = 0;
  for (const auto& [reason, count] : drops_in_log) logged_drops += count;
  const double wall = results.empty() ? 0 : results.front().seconds;
  std::printf(
      "total: recorded %llu, dropped %llu (%.4f %%), %.0f replays/s; in the log: %llu replays, %llu drops\n",
      static_cast<unsigned long long>(recorded), static_cast<unsigned long long>(dropped),
      100.0 * static_cast<double>(dropped) / static_cast<double>(recorded + dropped),
      static_cast<double>(recorded + dropped) / wall, static_cast<unsigned long long>(in_log),
      static_cast<unsigned long long>(logged_drops));
  std::printf("writer thread: %.2f s of CPU while recording (%.0f ns per recorded event)\n", writer_cpu,
              1e9 * writer_cpu / static_cast<double>(recorded));
  return in_log == recorded && logged_drops == dropped ? 0 : 3;
}
