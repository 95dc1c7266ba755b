// The injection library end to end without a GPU: each scenario runs in a fresh child process,
// where the driver simulator loads the library, calls InitializeInjection and plays CUDA calls
// through the fake CUPTI; the parent exports the session and checks exact numbers in the CSVs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "driver_simulator.h"
#include "export_session.h"
#include "profilemate/recorder.h"
#include "test_support.h"

namespace profilemate {
namespace {

using testing::DriverSimulator;
using testing::TempDir;
using Row = std::map<std::string, std::string>;

// The column names of a CSV file's first line.
std::vector<std::string> read_header(std::istream& in) {
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream names(line);
  for (std::string name; std::getline(names, name, ',');) header.push_back(name);
  return header;
}

std::vector<Row> read_csv(const std::string& path) {
  std::ifstream in(path);
  const std::vector<std::string> header = read_header(in);
  std::string line;
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    Row row;
    std::stringstream cells(line);
    std::string cell;
    for (const std::string& name : header) {
      if (!std::getline(cells, cell, ',')) cell.clear();
      row[name] = cell;
    }
    rows.push_back(row);
  }
  return rows;
}

struct Scenario {
  TempDir tmp;
  std::string session = tmp / "session";
  std::map<std::string, std::string> env{{"PROFILEMATE_SESSION_DIR", session},
                                         {"PROFILEMATE_ENABLE", "1"},
                                         {"PROFILEMATE_FLUSH_MS", "20"},
                                         {"PROFILEMATE_CUPTI_LIBRARY", FAKE_CUPTI_LIBRARY}};

  // Runs `body` in a child that has initialised the injection library; the child exits normally.
  void run(const std::function<int(DriverSimulator&)>& body) {
    const testing::ChildResult result = testing::run_in_child(env, [&] {
      DriverSimulator simulator(PROFILEMATE_INJECTION_LIBRARY);
      if (simulator.initialize() != 1) return 90;
      return body(simulator);
    });
    ASSERT_TRUE(result.exited) << "the child died by signal " << result.signal;
    ASSERT_EQ(result.exit_code, 0);
  }
  std::vector<Row> csv(const std::string& name) {
    if (!exported) {
      exporter::export_session(session, tmp / "out");
      exported = true;
    }
    return read_csv(tmp / ("out/" + name));
  }
  std::string metadata() {
    csv("cuda_graph_usage.csv");
    return testing::read_file(tmp / "out/metadata.json");
  }
  bool exported = false;
};

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void set_context(const char* mode, uint32_t tokens, bool uniform) {
  profilemate_CaptureContext context = profilemate_CaptureContext_init_zero;
  pm_copy_string(context.runtime_mode, sizeof context.runtime_mode, mode);
  context.num_tokens = tokens;
  context.has_num_reqs = uniform;
  context.num_reqs = tokens;
  context.uniform = uniform;
  pm_copy_string(context.wrapper, sizeof context.wrapper, "CUDAGraphWrapper");
  pm_set_capture_context(&context);
}

const Row& only_row(const std::vector<Row>& rows) {
  EXPECT_EQ(rows.size(), 1u);
  static const Row empty;
  return rows.empty() ? empty : rows.front();
}

TEST(InjectionScenario, ThePyTorchCaptureAndReplaySequenceIsRecordedWithGpuTime) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    set_context("FULL", 8, true);
    sim.capture(/*stream=*/7, /*graph=*/5, /*exec=*/105, /*nodes=*/42);
    pm_set_capture_context(nullptr);
    std::vector<FakeGraphTrace> traces;
    const uint64_t base = realtime_ns();
    for (uint32_t i = 0; i < 10; ++i) {
      const uint32_t correlation = sim.launch(105, 7);
      traces.push_back(
          {correlation, base + i * 1'000'000, base + i * 1'000'000 + 100'000 + i * 1000, 105, 7});
    }
    sim.deliver_graph_traces(traces, 4);
    sim.destroy_exec(105);
    return 0;
  });
  const Row capture = only_row(scenario.csv("cuda_graph_captures.csv"));
  EXPECT_EQ(capture.at("runtime_mode"), "FULL");
  EXPECT_EQ(capture.at("num_tokens"), "8");
  EXPECT_EQ(capture.at("num_reqs"), "8");
  EXPECT_EQ(capture.at("uniform"), "True");
  EXPECT_EQ(capture.at("graph_id"), "5");
  EXPECT_EQ(capture.at("exec_id"), "105");
  EXPECT_EQ(capture.at("node_count"), "42");
  EXPECT_EQ(capture.at("stream_id"), "7");
  EXPECT_EQ(capture.at("capture_mode"), "global");
  EXPECT_EQ(capture.at("status"), "ok");
  EXPECT_EQ(capture.at("wrapper"), "CUDAGraphWrapper");

  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("runtime_mode"), "FULL");
  EXPECT_EQ(usage.at("replay_count"), "10")
      << "the driver call nested in each runtime launch is not a second replay";
  EXPECT_EQ(usage.at("gpu_replays"), "10");
  EXPECT_EQ(usage.at("gpu_time_total_ms"), "1.045");  // 10 x 100 us + (0 + ... + 9) us
  EXPECT_EQ(usage.at("gpu_time_max_us"), "109.000");
  EXPECT_EQ(usage.at("gpu_time_p50_us"), "104.000");
  EXPECT_NE(scenario.metadata().find("\"destroy\": 1,"), std::string::npos);
}

TEST(InjectionScenario, AVllmLikeRunOfSixtyGraphsAndAHundredThousandReplaysCountsExactly) {
  constexpr uint32_t kGraphs = 60;
  constexpr uint32_t kReplays = 100'000;
  constexpr uint32_t kThreads = 3;
  Scenario scenario;
  // Launches back to back, far faster than a GPU runs graphs: buffers large enough that nothing
  // is dropped, so every count can be exact.
  scenario.env["PROFILEMATE_MAX_THREADS"] = "8";
  scenario.env["PROFILEMATE_BUFFER_MB"] = "256";
  scenario.run([&](DriverSimulator& sim) {
    for (uint32_t g = 0; g < kGraphs; ++g) {
      const bool full = g % 2 == 0;
      set_context(full ? "FULL" : "PIECEWISE", 8 * (g / 2 + 1), full);
      sim.capture(full ? 1 : 2, 1000 + g, 2000 + g, full ? 300 : 20);
    }
    pm_set_capture_context(nullptr);
    // Three threads replay graph (i % 60) on stream 1 or 2; GPU time is 10 us per graph index.
    // Every 5000 launches a thread hands the GPU records over, shuffled (out of launch order)
    // and split across buffers, while the other threads keep launching.
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 shuffle(t);
        std::vector<FakeGraphTrace> pending;
        const uint64_t base = realtime_ns();
        for (uint32_t i = t; i < kReplays; i += kThreads) {
          const uint32_t g = i % kGraphs;
          const uint32_t correlation = sim.launch(2000 + g, 1 + i % 2);
          pending.push_back({correlation, base + i, base + i + 10'000ull * (g + 1), 2000 + g, 1 + i % 2});
          if (pending.size() == 5000 || i + kThreads >= kReplays) {
            std::shuffle(pending.begin(), pending.end(), shuffle);
            sim.deliver_graph_traces(pending, 997);
            pending.clear();
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    return 0;
  });
  EXPECT_EQ(scenario.csv("cuda_graph_captures.csv").size(), kGraphs);
  const std::vector<Row> usage = scenario.csv("cuda_graph_usage.csv");
  ASSERT_EQ(usage.size(), kGraphs);
  uint64_t total = 0;
  for (const Row& row : usage) {
    const uint32_t g = std::stoul(row.at("exec_id")) - 2000;
    const uint64_t expected = kReplays / kGraphs + (g < kReplays % kGraphs ? 1 : 0);
    EXPECT_EQ(row.at("replay_count"), std::to_string(expected)) << "graph " << g;
    EXPECT_EQ(row.at("gpu_replays"), std::to_string(expected)) << "graph " << g;
    EXPECT_EQ(row.at("gpu_time_p99_us"), std::to_string(10 * (g + 1)) + ".000") << "graph " << g;
    EXPECT_EQ(row.at("runtime_mode"), g % 2 == 0 ? "FULL" : "PIECEWISE");
    EXPECT_EQ(row.at("num_tokens"), std::to_string(8 * (g / 2 + 1)));
    EXPECT_EQ(row.at("num_reqs"), g % 2 == 0 ? row.at("num_tokens") : "None");
    total += std::stoull(row.at("replay_count"));
  }
  EXPECT_EQ(total, kReplays);
  EXPECT_NE(scenario.metadata().find("\"dropped_records\": {}"), std::string::npos) << scenario.metadata();
}

// How many rows a CSV file has, and how many of them have a value in `column`: line by line, as
// a million rows would make a million maps in read_csv.
std::pair<uint64_t, uint64_t> rows_with_value(const std::string& path, const std::string& column) {
  std::ifstream in(path);
  const std::vector<std::string> header = read_header(in);
  std::string line;
  const auto index = static_cast<size_t>(std::find(header.begin(), header.end(), column) - header.begin());
  EXPECT_LT(index, header.size()) << "no column " << column << " in " << path;
  uint64_t rows = 0;
  uint64_t with_value = 0;
  while (std::getline(in, line)) {
    ++rows;
    size_t begin = 0;
    for (size_t i = 0; i < index && begin != std::string::npos; ++i) {
      begin = line.find(',', begin);
      if (begin != std::string::npos) ++begin;
    }
    if (begin != std::string::npos && begin < line.size() && line[begin] != ',') ++with_value;
  }
  return {rows, with_value};
}

// From /proc/self/status, in KiB: "VmRSS" (resident now) or "VmHWM" (the peak).
uint64_t resident_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(field + ":")) return std::stoull(line.substr(field.size() + 1));
  }
  return 0;
}

TEST(InjectionScenario, AMillionGpuRecordsInOneDeliveryAllReachTheReplaysFileWithNothingDropped) {
  // Under a sanitizer a million launches outlast the tracker's 5 s wait for GPU records: fewer.
  constexpr uint32_t kLaunches = testing::kSanitized ? 50'000 : 1'000'000;
  // What the million in-flight launches may add to the child's resident memory: the GPU records
  // the test holds for the fake CUPTI (32 bytes each, 30.5 MiB), the tracker's waiting launches
  // (32 bytes each, 30.5 MiB), the recorder's buffers that fill (the flush thread's 512 KiB and
  // the writer's 1 MiB), and 16 MiB of allocator and deque slack. The earlier store (a nanopb
  // GraphReplay in a hash-map node, about 100 bytes a launch) added 141 MiB here; this one 66.
  constexpr uint64_t kBudgetMib = 80;
  Scenario scenario;  // default buffers: 512 KiB (7,281 replays) for the thread CUPTI delivers on
  const std::string memory_file = scenario.tmp / "memory.txt";
  scenario.run([&](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    const uint64_t resident_before = resident_kib("VmRSS");
    std::vector<FakeGraphTrace> traces;
    traces.reserve(kLaunches);
    const uint64_t base = realtime_ns();
    for (uint32_t i = 0; i < kLaunches; ++i) {
      const uint32_t correlation = sim.launch(101, 1);
      traces.push_back({correlation, base + i * 1000ull, base + i * 1000ull + 500, 1, 1});
    }
    sim.deliver_graph_traces_in_one_flush(traces);
    std::ofstream(memory_file) << (resident_kib("VmHWM") - resident_before) / 1024;
    return 0;
  });
  const std::string metadata = scenario.metadata();  // exports the session
  const auto [rows, with_gpu_time] =
      rows_with_value(scenario.tmp / "out/cuda_graph_replays.csv", "gpu_duration_us");
  EXPECT_EQ(rows, kLaunches);
  EXPECT_EQ(with_gpu_time, kLaunches) << "every launch joined its GPU record";
  EXPECT_NE(metadata.find("\"dropped_records\": {}"), std::string::npos) << metadata;
  EXPECT_NE(metadata.find("\"dropped_records\": 0,"), std::string::npos) << "totals: " << metadata;
  const uint64_t added_mib = std::stoull(testing::read_file(memory_file));
  std::printf("%u launches in flight added %llu MiB of peak resident memory\n", kLaunches,
              static_cast<unsigned long long>(added_mib));
  if (!testing::kSanitized) {
    EXPECT_LE(added_mib, kBudgetMib);  // shadow memory would count too
  }
}

// Records per 256 KiB activity buffer (the library's default): 56-byte GraphTrace records.
constexpr uint32_t kRecordsPerBuffer = (256u << 10) / sizeof(CUpti_ActivityGraphTrace2);

// The numbers in metadata.json's "gpu_records" object.
uint64_t gpu_records_field(const std::string& metadata, const std::string& field) {
  const size_t at = metadata.find("\"" + field + "\": ", metadata.find("\"gpu_records\""));
  return at == std::string::npos ? UINT64_MAX : std::stoull(metadata.substr(at + field.size() + 4));
}

TEST(InjectionScenario, GpuRecordsThatComeAfterTheExpiryStillGiveTheirReplaysGpuTime) {
  Scenario scenario;
  scenario.env["PROFILEMATE_GPU_RECORD_TIMEOUT_MS"] = "100";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    const uint64_t base = realtime_ns();
    // CUPTI holds these in this thread's buffer, which comes back only once it is full: long
    // after the tracker has written them without GPU time.
    for (uint32_t i = 0; i < 10; ++i)
      sim.gpu_executed({sim.launch(101, 1), base + i, base + i + 1000, 101, 1});
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    for (uint32_t i = 10; i < kRecordsPerBuffer; ++i)
      sim.gpu_executed({sim.launch(101, 1), base + i, base + i + 1000, 101, 1});
    return 0;
  });
  const std::string metadata = scenario.metadata();  // exports the session
  const auto [rows, with_gpu_time] =
      rows_with_value(scenario.tmp / "out/cuda_graph_replays.csv", "gpu_duration_us");
  EXPECT_EQ(rows, kRecordsPerBuffer);
  EXPECT_EQ(with_gpu_time, kRecordsPerBuffer) << "the late GPU times reached the replays' rows";
  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("gpu_replays"), std::to_string(kRecordsPerBuffer));
  EXPECT_EQ(usage.at("gpu_time_max_us"), "1.000");
  EXPECT_GE(gpu_records_field(metadata, "late_gpu_times"), 10u) << metadata;
  EXPECT_EQ(gpu_records_field(metadata, "late_gpu_times"), gpu_records_field(metadata, "replays_without_gpu"))
      << metadata;
  EXPECT_EQ(gpu_records_field(metadata, "unmatched_gpu_records"), 0u) << metadata;
}

TEST(InjectionScenario, PerThreadBuffersOfTwoThreadsThatNeverFillComeWithTheForcedFlushAtExit) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.capture(2, 2, 102, 3);
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < 2; ++t) {
      threads.emplace_back([&sim, t] {
        const uint64_t base = realtime_ns();
        for (uint32_t i = 0; i < 100; ++i) {
          const uint32_t correlation = sim.launch(101 + t, 1 + t);
          sim.gpu_executed({correlation, base + i, base + i + 2000 * (t + 1), 101 + t, 1 + t});
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    return 0;  // neither buffer is full: the periodic flushes hand back nothing
  });
  const std::vector<Row> usage = scenario.csv("cuda_graph_usage.csv");
  ASSERT_EQ(usage.size(), 2u);
  for (const Row& row : usage) {
    EXPECT_EQ(row.at("replay_count"), "100") << "graph " << row.at("exec_id");
    EXPECT_EQ(row.at("gpu_replays"), "100") << "graph " << row.at("exec_id");
    EXPECT_EQ(row.at("gpu_time_max_us"), row.at("exec_id") == "101" ? "2.000" : "4.000");
  }
}

TEST(InjectionScenario, BuffersHandedBackByCuptisWorkerAndByTheFlushThreadAtOnceAllJoin) {
  constexpr uint32_t kPerThread = 3 * kRecordsPerBuffer + 100;
  Scenario scenario;
  scenario.env["PROFILEMATE_MAX_THREADS"] = "8";
  scenario.env["PROFILEMATE_BUFFER_MB"] = "64";
  // The worker holds what it took for a while, so that the forced flush at exit finds those
  // buffers gone but not yet handed back: the exit must wait for them.
  scenario.env["FAKE_CUPTI_WORKER_HANDBACK_MS"] = "50";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.start_cupti_worker();
    std::vector<std::thread> threads;
    for (uint32_t t = 0; t < 2; ++t) {
      threads.emplace_back([&sim, t] {
        const uint64_t base = realtime_ns();
        for (uint32_t i = 0; i < kPerThread; ++i) {
          const uint32_t correlation = sim.launch(101, 1 + t);
          sim.gpu_executed({correlation, base + i, base + i + 3000, 101, 1 + t});
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    return 0;
  });
  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("replay_count"), std::to_string(2 * kPerThread));
  EXPECT_EQ(usage.at("gpu_replays"), std::to_string(2 * kPerThread));
  EXPECT_EQ(usage.at("gpu_time_total_ms"),
            std::to_string(2 * kPerThread * 3 / 1000) + "." + std::to_string(2 * kPerThread * 3 % 1000));
  const std::string metadata = scenario.metadata();
  EXPECT_EQ(gpu_records_field(metadata, "replays_with_gpu"), 2 * kPerThread) << metadata;
  EXPECT_EQ(gpu_records_field(metadata, "unmatched_gpu_records"), 0u) << metadata;
  EXPECT_NE(metadata.find("\"dropped_records\": {}"), std::string::npos) << metadata;
}

TEST(InjectionScenario, ABufferCuptiKeepsAfterTheForcedFlushDoesNotHoldUpTheExitWhenNoReplayAwaitsIt) {
  Scenario scenario;
  scenario.env["FAKE_CUPTI_KEEP_A_BUFFER"] = "1";
  const auto started = std::chrono::steady_clock::now();
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    const uint64_t base = realtime_ns();
    for (uint32_t i = 0; i < 100; ++i)
      sim.gpu_executed({sim.launch(101, 1), base + i, base + i + 2000, 101, 1});
    return 0;
  });
  const auto exited = std::chrono::steady_clock::now();
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("gpu_replays"), "100");
  EXPECT_LT(exited - started, std::chrono::milliseconds(1500)) << "the exit waited for the kept buffer";
  EXPECT_EQ(scenario.metadata().find("did not finish an activity flush"), std::string::npos);
}

TEST(InjectionScenario, DriverCallbacksNestedInEveryRuntimeCallAreNotCountedTwice) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(4, 8, 108, 5);  // begin, end and instantiate each with their driver call inside
    sim.launch(108, 4);
    sim.destroy_exec(108);
    return 0;
  });
  const Row capture = only_row(scenario.csv("cuda_graph_captures.csv"));
  EXPECT_EQ(capture.at("graph_id"), "8");
  EXPECT_EQ(capture.at("exec_id"), "108");
  EXPECT_EQ(capture.at("node_count"), "5");
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("replay_count"), "1");
  EXPECT_NE(scenario.metadata().find("\"destroy\": 1,"), std::string::npos) << scenario.metadata();
}

TEST(InjectionScenario, DriverApiLaunchesAreRecordedWhenNoRuntimeCallSurroundsThem) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(3, 9, 109, 12);
    for (int i = 0; i < 5; ++i) sim.driver_launch(109, 3);
    for (int i = 0; i < 2; ++i) sim.launch(109, 3);
    return 0;
  });
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("replay_count"), "7");
}

TEST(InjectionScenario, CuptiDroppedActivityRecordsAreCountedInTheMetadata) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    const uint32_t correlation = sim.launch(101, 1);
    const FakeGraphTrace trace{correlation, realtime_ns(), realtime_ns() + 5000, 101, 1};
    sim.set_cupti_dropped(17);
    sim.deliver_graph_traces({trace}, 1);
    return 0;
  });
  EXPECT_NE(scenario.metadata().find("\"cupti_activity\": 17"), std::string::npos) << scenario.metadata();
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("gpu_replays"), "1");
}

TEST(InjectionScenario, ALaunchWhoseGpuRecordNeverComesIsStillCountedWithoutGpuTime) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.launch(101, 1);
    sim.launch(101, 1);
    return 0;
  });
  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("replay_count"), "2");
  EXPECT_EQ(usage.at("gpu_replays"), "0");
  EXPECT_EQ(usage.at("gpu_time_total_ms"), "");
}

TEST(InjectionScenario, ARefusedSubscriptionNamesTheOtherToolAndTheApplicationGoesOn) {
  Scenario scenario;
  scenario.env["FAKE_CUPTI_REFUSE_SUBSCRIBER"] = "Nsight Systems";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.launch(101, 1);
    return sim.cupti_subscribed() ? 5 : 0;
  });
  EXPECT_TRUE(scenario.csv("cuda_graph_captures.csv").empty());
  const std::string metadata = scenario.metadata();
  EXPECT_NE(metadata.find("another tool (Nsight Systems) holds CUPTI's only subscriber slot"),
            std::string::npos)
      << metadata;
  EXPECT_NE(metadata.find("\"severity\": \"degraded\""), std::string::npos);
}

TEST(InjectionScenario, MissingCuptiTurnsGraphTracingOffWithAReasonAndTheApplicationGoesOn) {
  Scenario scenario;
  scenario.env["PROFILEMATE_CUPTI_LIBRARY"] = "/nonexistent/libcupti.so.13";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.launch(101, 1);
    return sim.cupti_subscribed() ? 5 : 0;
  });
  EXPECT_TRUE(scenario.csv("cuda_graph_usage.csv").empty());
  EXPECT_NE(scenario.metadata().find("cannot load PROFILEMATE_CUPTI_LIBRARY=/nonexistent/libcupti.so.13"),
            std::string::npos)
      << scenario.metadata();
}

TEST(InjectionScenario, TheToolkitsRealCuptiBindsAndWithoutADriverRefusesCleanly) {
  if (!std::filesystem::exists(REAL_CUPTI_LIBRARY))
    GTEST_SKIP() << "no CUPTI in the CUDA toolkit at " << REAL_CUPTI_LIBRARY;
  Scenario scenario;
  scenario.env["PROFILEMATE_CUPTI_LIBRARY"] = REAL_CUPTI_LIBRARY;
  scenario.run([](DriverSimulator&) { return 0; });
  // Every function ProfileMate binds exists in the real library (a missing one is named in the
  // notice), and with no GPU driver cuptiSubscribe fails: graph tracing is off, said plainly.
  const std::string metadata = scenario.metadata();
  EXPECT_EQ(metadata.find(" lacks "), std::string::npos) << metadata;
  EXPECT_NE(metadata.find("CUDA graph tracing is off: cuptiSubscribe failed with"), std::string::npos)
      << metadata;
  EXPECT_NE(metadata.find("\"cupti\": \"13."), std::string::npos) << "its version is recorded\n" << metadata;
}

TEST(InjectionScenario, WithCupti12ReplaysGetGpuTimeFromItsSmallerGraphTraceRecords) {
  Scenario scenario;
  scenario.env["PROFILEMATE_CUPTI_LIBRARY"] = FAKE_CUPTI12_LIBRARY;  // 48-byte records, not 56
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    std::vector<FakeGraphTrace> traces;
    const uint64_t base = realtime_ns();
    for (uint32_t i = 0; i < 4; ++i) {
      const uint32_t correlation = sim.launch(101, 1);
      traces.push_back({correlation, base + i * 1'000'000, base + i * 1'000'000 + 10'000 * (i + 1), 101, 1});
    }
    sim.deliver_graph_traces(traces, 4);  // one buffer: a wrong record size would misread 3 of 4
    return 0;
  });
  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("replay_count"), "4");
  EXPECT_EQ(usage.at("gpu_replays"), "4");
  EXPECT_EQ(usage.at("gpu_time_total_ms"), "0.100");  // 10 + 20 + 30 + 40 us
  EXPECT_EQ(usage.at("gpu_time_max_us"), "40.000");
  const std::string metadata = scenario.metadata();
  EXPECT_EQ(metadata.find("GPU timing of CUDA graph replays is off"), std::string::npos) << metadata;
  EXPECT_NE(metadata.find("\"cupti\": \"API 28\""), std::string::npos) << metadata;
}

// How many times `text` occurs in `haystack`.
size_t occurrences(const std::string& haystack, const std::string& text) {
  size_t count = 0;
  for (size_t at = haystack.find(text); at != std::string::npos; at = haystack.find(text, at + 1)) ++count;
  return count;
}

// Launches `count` replays of exec 101 on stream 1 and returns their GPU records (500 ns each).
std::vector<FakeGraphTrace> launch_replays(DriverSimulator& sim, uint32_t count) {
  std::vector<FakeGraphTrace> traces;
  const uint64_t base = realtime_ns();
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t correlation = sim.launch(101, 1);
    traces.push_back({correlation, base + i * 1000ull, base + i * 1000ull + 500, 101, 1});
  }
  return traces;
}

TEST(InjectionScenario, AClockChangedMidRunByATimestampCallbackDropsGpuTimesFromThereWithOneNotice) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.deliver_graph_traces(launch_replays(sim, 5), 5);
    sim.register_tsc_clock();  // the torch profiler's first step: records now in a TSC clock
    sim.deliver_graph_traces(launch_replays(sim, 5), 5);
    return 0;
  });
  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("replay_count"), "10");
  EXPECT_EQ(usage.at("gpu_replays"), "5") << "only the replays before the clock changed";
  const std::string metadata = scenario.metadata();
  EXPECT_EQ(occurrences(metadata, "GPU timing of CUDA graph replays stops here"), 1u) << metadata;
  EXPECT_NE(metadata.find("CUPTI's clock is no longer CLOCK_REALTIME"), std::string::npos) << metadata;
  // A clock sync at start and at every flush: CUPTI's clock matched CLOCK_REALTIME, then did not.
  std::vector<std::pair<uint64_t, uint64_t>> syncs;  // realtime, CUPTI
  for (const Record& record :
       testing::read_records(testing::files_with_suffix(scenario.session, ".pmlog")[0])) {
    if (record.has_clock_sync() && record.clock_sync().has_cupti_ns())
      syncs.emplace_back(record.clock_sync().realtime_ns(), record.clock_sync().cupti_ns());
  }
  ASSERT_GE(syncs.size(), 2u);
  EXPECT_LT(std::max(syncs.front().first, syncs.front().second) -
                std::min(syncs.front().first, syncs.front().second),
            10'000'000u);
  EXPECT_LT(syncs.back().second, syncs.back().first / 2) << "the last sync shows the TSC clock";
}

TEST(InjectionScenario,
     TheTorchProfilerTakingOverCuptisBuffersIsFoundAndSaidOnceWhileReplaysAreStillCounted) {
  // Kineto without its TSC clock: only the buffers tell. Records per 4 MiB buffer of ours: 74,898.
  constexpr uint32_t kAfterTakeover = 2 * 74'898 + 1000;  // more than our one lent buffer and a spare hold
  Scenario scenario;
  const std::string stderr_file = scenario.tmp / "stderr.txt";
  scenario.run([&](DriverSimulator& sim) {
    const int file = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(file, STDERR_FILENO);
    sim.capture(1, 1, 101, 3);
    sim.deliver_graph_traces(launch_replays(sim, 5), 5);
    sim.queue_graph_traces(launch_replays(sim, 3));  // a buffer of ours CUPTI still holds...
    sim.start_torch_profiler(/*tsc=*/false);
    sim.deliver_graph_traces_now(launch_replays(sim, kAfterTakeover), 10'000);  // ...goes to Kineto too
    // The launches expire without their GPU record after 5 s; the next flush finds the takeover.
    for (int waited_ms = 0; waited_ms < 30'000; waited_ms += 10) {
      if (testing::read_file(stderr_file).find("took over CUPTI's activity buffers") != std::string::npos)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return sim.torch_profiler_records() == kAfterTakeover ? 0 : 3;
  });
  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("replay_count"), std::to_string(5 + 3 + kAfterTakeover));
  EXPECT_EQ(usage.at("gpu_replays"), "5");
  const std::string said = testing::read_file(stderr_file);
  EXPECT_EQ(occurrences(said,
                        "[ProfileMate] GPU timing of CUDA graph replays stops here: another tool in this "
                        "process took over CUPTI's activity buffers"),
            1u)
      << said;
  EXPECT_EQ(occurrences(scenario.metadata(), "GPU timing of CUDA graph replays stops here"), 1u);
}

TEST(InjectionScenario, ARefusedActivityKindKeepsCountingReplaysWithoutGpuTime) {
  Scenario scenario;
  scenario.env["FAKE_CUPTI_REFUSE_ACTIVITY"] = "1";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    for (int i = 0; i < 3; ++i) sim.launch(101, 1);
    return 0;
  });
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("replay_count"), "3");
  EXPECT_NE(scenario.metadata().find("CUPTI refused the GRAPH_TRACE activity"), std::string::npos);
}

TEST(InjectionScenario, AFatalCuptiErrorStopsTracingWithoutStoppingTheApplication) {
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.launch(101, 1);
    sim.cupti_fatal_error(CUPTI_ERROR_UNKNOWN, "device lost");
    sim.launch(101, 1);
    return 0;
  });
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("replay_count"), "1");
  const std::string metadata = scenario.metadata();
  EXPECT_NE(metadata.find("\"severity\": \"fault\""), std::string::npos);
  EXPECT_NE(metadata.find("device lost"), std::string::npos) << metadata;
}

TEST(InjectionScenario, ACuptiFlushThatNeverReturnsDoesNotHoldUpTheExit) {
  Scenario scenario;
  scenario.env["FAKE_CUPTI_FLUSH_BLOCKS"] = "1";
  const std::string stderr_file = scenario.tmp / "stderr.txt";
  // run() fails when the child does not exit normally; a hang fails by the test's time limit.
  scenario.run([&](DriverSimulator& sim) {
    std::fflush(stderr);
    if (std::freopen(stderr_file.c_str(), "w", stderr) == nullptr) return 8;
    sim.capture(1, 1, 101, 3);
    sim.launch(101, 1);
    sim.launch(101, 1);
    return 0;  // the flush thread is inside cuptiActivityFlushAll by now, or will be
  });
  const Row usage = only_row(scenario.csv("cuda_graph_usage.csv"));
  EXPECT_EQ(usage.at("replay_count"), "2") << "the replays waiting for GPU time are written without it";
  EXPECT_EQ(usage.at("gpu_replays"), "0");
  const std::string said = testing::read_file(stderr_file);
  const std::string line = "[ProfileMate] CUPTI did not finish an activity flush within 2000 ms at exit";
  EXPECT_NE(said.find(line), std::string::npos) << said;
  EXPECT_EQ(said.find(line), said.rfind(line)) << "said once: " << said;
  EXPECT_NE(scenario.metadata().find("CUPTI did not finish an activity flush"), std::string::npos);
}

TEST(InjectionScenario, AForkedChildNeitherTracesWithItsParentsCuptiNorWritesItsEvents) {
  if (testing::kThreadsInMultithreadedForkChildUnsupported) GTEST_SKIP() << testing::kForkSkipReason;
  Scenario scenario;
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.launch(101, 1);
    const pid_t child = ::fork();
    if (child == 0) {
      // The child initialises CUDA again: the session copied from the parent (whose flush thread
      // was not copied) must say that tracing is off, not abort on that thread.
      if (sim.initialize() != 1) std::exit(7);
      sim.launch(101, 1);  // CUPTI does not work in a forked child: ignored
      profilemate_KvUsage usage = profilemate_KvUsage_init_zero;
      usage.used_blocks = 1;
      usage.total_blocks = 2;
      pm_record(profilemate_Record_kv_usage_tag, &usage);  // the child's own events go to its log
      std::exit(0);
    }
    const testing::ChildResult grandchild = testing::wait_child(child);
    sim.launch(101, 1);
    return grandchild.exited && grandchild.exit_code == 0 ? 0 : 6;
  });
  EXPECT_EQ(testing::files_with_suffix(scenario.session, ".pmlog").size(), 2u);
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("replay_count"), "2");
  EXPECT_EQ(scenario.csv("kv_cache_usage.csv").size(), 1u);
  EXPECT_NE(scenario.metadata().find("CUDA graph tracing is off in this forked child"), std::string::npos)
      << scenario.metadata();
}

TEST(InjectionScenario, RefusedDriverCallbacksAreNamedAndRuntimeLaunchesAreStillRecorded) {
  Scenario scenario;
  scenario.env["FAKE_CUPTI_REFUSE_CALLBACKS"] = "driver";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    for (int i = 0; i < 3; ++i) sim.launch(101, 1);
    sim.driver_launch(101, 1);  // unseen: its callback was refused
    return 0;
  });
  EXPECT_EQ(only_row(scenario.csv("cuda_graph_usage.csv")).at("replay_count"), "3");
  const std::string metadata = scenario.metadata();
  EXPECT_NE(metadata.find("CUPTI refused 20 of 36 graph API callbacks"), std::string::npos) << metadata;
}

TEST(InjectionScenario, EveryCallbackRefusedTurnsGraphTracingOffWithAReason) {
  Scenario scenario;
  scenario.env["FAKE_CUPTI_REFUSE_CALLBACKS"] = "all";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    sim.launch(101, 1);
    return sim.cupti_subscribed() ? 5 : 0;  // it let go of the subscriber slot
  });
  EXPECT_TRUE(scenario.csv("cuda_graph_usage.csv").empty());
  EXPECT_NE(scenario.metadata().find("CUDA graph tracing is off: CUPTI refused every graph API callback"),
            std::string::npos)
      << scenario.metadata();
}

TEST(InjectionScenario, WhenActivationIsOffNothingIsStartedAtAll) {
  Scenario scenario;
  scenario.env.erase("PROFILEMATE_SESSION_DIR");
  scenario.env["PROFILEMATE_ENABLE"] = "0";
  scenario.env["VLLM_PROFILING_DIR"] = scenario.tmp / "profiles";
  scenario.run([](DriverSimulator& sim) {
    sim.capture(1, 1, 101, 3);
    if (sim.cupti_subscribed()) return 5;
    if (pm_active() != 0) return 6;
    return sim.initialize() == 1 ? 0 : 7;  // idempotent
  });
  EXPECT_FALSE(std::filesystem::exists(scenario.tmp / "profiles"));
}

}  // namespace
}  // namespace profilemate
