// `profilemate export --type perfetto`: the command (paths, messages, exit codes) and the trace
// writer's choices on sessions made to test them (nesting, GPU lanes, unnamed threads, counters
// of 0). tests/tools/test_perfetto_trace.py checks a real session against Perfetto's own schema.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <vector>

#include "perfetto_trace.h"
#include "perfetto_trace.pb.h"
#include "progress_bar.h"
#include "test_session.h"
#include "test_support.h"

namespace profilemate {
namespace {

using exporter::Row;
using testing::read_file;
using testing::TempDir;
using testing::TestSession;

namespace pf = perfetto;

testing::CommandResult run_cli(const std::string& args) {
  return testing::run_command(std::string(PROFILEMATE_CLI) + " " + args);
}

std::string golden_session() {
  return testing::source_dir() + "/golden/synthetic/session";
}

// ---------------------------------------------------------------------------------------------
// The command

TEST(ExportPerfettoCli, WritesTheTraceIntoTheOutputDirectoryAndSaysWhereToOpenIt) {
  TempDir out;
  const auto result = run_cli("export " + golden_session() + " --type perfetto -o " + out.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "") << "no progress bar when stderr is not a terminal";
  EXPECT_NE(result.out.find(out / "trace.perfetto-trace"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("https://ui.perfetto.dev"), std::string::npos) << result.out;
  EXPECT_TRUE(std::filesystem::is_regular_file(out / "trace.perfetto-trace"));
  EXPECT_FALSE(std::filesystem::exists(out / "metadata.json")) << "the trace only, not the CSV files";
  pf::Trace trace;
  EXPECT_TRUE(trace.ParseFromString(read_file(out / "trace.perfetto-trace")));
  EXPECT_GT(trace.packet_size(), 0);
}

TEST(ExportPerfettoCli, WritesIntoTheSessionDirectoryByDefault) {
  TempDir dir;
  const std::string session = dir / "session";
  std::filesystem::copy(golden_session(), session);
  const auto result = run_cli("export " + session + " --type perfetto");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(std::filesystem::exists(session + "/trace.perfetto-trace"));
}

TEST(ExportPerfettoCli, FailsWithExitCode3AndSaysWhatToDoWhenTheTraceCannotBeWritten) {
  TempDir out;
  std::filesystem::create_directory(out / "trace.perfetto-trace");  // a directory in the file's place
  const auto result = run_cli("export " + golden_session() + " --type perfetto -o " + out.path());
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find("cannot write " + (out / "trace.perfetto-trace")), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("-o DIR"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;

  testing::write_file(out / "blocker", "a file where a directory should go");
  const auto blocked = run_cli("export " + golden_session() + " --type perfetto -o " + (out / "blocker/x"));
  EXPECT_EQ(blocked.exit_code, 3);
  EXPECT_NE(blocked.err.find(out / "blocker/x"), std::string::npos) << blocked.err;
}

TEST(ExportPerfettoCli, NamesTheValidTypesForAnUnknownOne) {
  const auto result = run_cli("export " + golden_session() + " --type json");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("expected csv, parquet or perfetto"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("profilemate export --help"), std::string::npos) << result.err;
}

TEST(ExportPerfettoCli, HelpDescribesTheTypeWithAnExample) {
  const auto help = run_cli("export --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--type perfetto"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("trace.perfetto-trace"), std::string::npos);
  EXPECT_NE(help.out.find("docs/perfetto.md"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The writer

constexpr uint64_t kStart = 1'700'000'000'000'000'000;

// A session of one process (pid 100) with one announced thread (index 1, tid 101).
TestSession one_process(const std::string& role = "Worker_TP0") {
  TestSession data;
  data.processes.emplace_back();
  exporter::Process& process = data.processes.back();
  process.header.set_pid(100);
  process.header.set_start_realtime_ns(kStart);
  process.info.set_process_role(role);
  ThreadInfo thread;
  thread.set_thread(1);
  thread.set_tid(101);
  thread.set_name("worker");
  process.threads[1] = thread;
  data.start_unix_ns = kStart;
  return data;
}

Row<CpuOperation> operation(uint64_t at, uint64_t duration, const std::string& name, uint32_t thread = 1) {
  Row<CpuOperation> row;
  row.unix_ns = at;
  row.event.set_operation(name);
  row.event.set_duration_ns(duration);
  row.event.set_thread(thread);
  return row;
}

struct Slice {
  std::string name;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// The trace read back: tracks by uuid, closed slices by track, counter values by track name.
struct ReadTrace {
  std::map<uint64_t, pf::TrackDescriptor> tracks;
  std::map<uint64_t, std::vector<Slice>> slices;
  std::map<std::string, std::vector<pf::TrackEvent>> counters;
  int unbalanced = 0;

  [[nodiscard]] std::vector<uint64_t> tracks_named(const std::string& name) const {
    std::vector<uint64_t> found;
    for (const auto& [uuid, track] : tracks) {
      if (track.name() == name) found.push_back(uuid);
    }
    return found;
  }
};

ReadTrace write_and_read(const TestSession& data) {
  TempDir dir;
  exporter::write_perfetto_trace(testing::streamed(data)->stream, dir / "t.perfetto-trace");
  pf::Trace trace;
  EXPECT_TRUE(trace.ParseFromString(read_file(dir / "t.perfetto-trace")));
  ReadTrace read;
  std::map<uint64_t, std::vector<Slice>> open;
  for (const pf::TracePacket& packet : trace.packet()) {
    if (packet.has_track_descriptor())
      read.tracks[packet.track_descriptor().uuid()] = packet.track_descriptor();
    if (!packet.has_track_event()) continue;
    const pf::TrackEvent& event = packet.track_event();
    std::vector<Slice>& stack = open[event.track_uuid()];
    switch (event.type()) {
      case pf::TrackEvent::TYPE_SLICE_BEGIN: stack.push_back({event.name(), packet.timestamp(), 0}); break;
      case pf::TrackEvent::TYPE_SLICE_END:
        if (stack.empty()) {
          ++read.unbalanced;
          break;
        }
        stack.back().end = packet.timestamp();
        read.slices[event.track_uuid()].push_back(stack.back());
        stack.pop_back();
        break;
      case pf::TrackEvent::TYPE_COUNTER:
        read.counters[read.tracks[event.track_uuid()].name()].push_back(event);
        break;
      default: break;
    }
  }
  for (const auto& [track, stack] : open) read.unbalanced += static_cast<int>(stack.size());
  return read;
}

TEST(PerfettoTrace, CutsAThreadSliceThatOutlivesItsParentAtTheParentsEnd) {
  TestSession data = one_process();
  data.cpu_operations.push_back(operation(kStart + 1000, 1000, "parent"));
  data.cpu_operations.push_back(operation(kStart + 1500, 600, "child"));  // ends 100 ns after its parent
  data.cpu_operations.push_back(operation(kStart + 2000, 500, "next"));   // begins as the parent ends
  const ReadTrace trace = write_and_read(data);
  EXPECT_EQ(trace.unbalanced, 0);
  ASSERT_EQ(trace.tracks.at(trace.slices.begin()->first).thread().tid(), 101);
  std::map<std::string, Slice> by_name;
  for (const Slice& slice : trace.slices.begin()->second) by_name[slice.name] = slice;
  EXPECT_EQ(by_name["parent"].end, kStart + 2000);
  EXPECT_EQ(by_name["child"].end, kStart + 2000) << "cut at its parent's end";
  EXPECT_EQ(by_name["next"].begin, kStart + 2000);
  EXPECT_EQ(by_name["next"].end, kStart + 2500);
}

TEST(PerfettoTrace, LeavesOutKvCacheManagerWindowSums) {
  TestSession data = one_process();
  data.cpu_operations.push_back(operation(kStart, 50'000'000, "kv_cache_manager.allocate_slots"));
  data.cpu_operations.push_back(operation(kStart + 10, 100, "model_runner.sample_tokens"));
  const ReadTrace trace = write_and_read(data);
  ASSERT_EQ(trace.slices.size(), 1u);
  ASSERT_EQ(trace.slices.begin()->second.size(), 1u);
  EXPECT_EQ(trace.slices.begin()->second[0].name, "model_runner.sample_tokens");
}

TEST(PerfettoTrace, DrawsOverlappingGpuExecutionsOnLanesOfTheSameNameWithTheirFullDurations) {
  TestSession data = one_process();
  for (uint32_t i = 0; i < 3; ++i) {
    exporter::ReplayRow replay;
    replay.exec_id = 9;
    replay.stream_id = 7;
    replay.thread = 1;
    replay.unix_ns = kStart + i * 1000;
    replay.cpu_ns = 100;
    replay.gpu_offset_ns = 50;
    replay.gpu_ns = 1500;  // longer than the gap between launches: each overlaps the next
    replay.has_gpu = true;
    data.replays.push_back(replay);
  }
  const ReadTrace trace = write_and_read(data);
  EXPECT_EQ(trace.unbalanced, 0);
  const std::vector<uint64_t> lanes = trace.tracks_named("GPU stream 7");
  ASSERT_EQ(lanes.size(), 2u);
  size_t executions = 0;
  for (const uint64_t lane : lanes) {
    EXPECT_EQ(trace.tracks.at(lane).parent_uuid(), trace.tracks.at(lanes[0]).parent_uuid());
    for (const Slice& slice : trace.slices.at(lane)) {
      EXPECT_EQ(slice.name, "graph exec 9") << "no capture labelled it";
      EXPECT_EQ(slice.end - slice.begin, 1500u);
      ++executions;
    }
  }
  EXPECT_EQ(executions, 3u);
}

TEST(PerfettoTrace, GivesAThreadWithoutAnOsIdATrackOfItsProcessAndAnUnnamedProcessItsPid) {
  TestSession data = one_process("");
  data.cpu_operations.push_back(operation(kStart, 100, "op", /*thread=*/5));
  const ReadTrace trace = write_and_read(data);
  bool process_named = false;
  for (const auto& [uuid, track] : trace.tracks) {
    if (track.has_process()) process_named = track.process().process_name() == "pid 100";
  }
  EXPECT_TRUE(process_named);
  const std::vector<uint64_t> unnamed = trace.tracks_named("thread 5");
  ASSERT_EQ(unnamed.size(), 1u);
  EXPECT_FALSE(trace.tracks.at(unnamed[0]).has_thread());
  EXPECT_EQ(trace.slices.at(unnamed[0]).size(), 1u);
}

TEST(PerfettoTrace, WritesCounterValuesOfZero) {
  TestSession data = one_process("EngineCore");
  Row<SchedulerStep> step;
  step.unix_ns = kStart;
  step.event.set_step(1);
  step.event.set_num_tokens(0);
  step.event.set_waiting_queue_len(3);
  data.steps.push_back(step);
  Row<KvUsage> kv;
  kv.unix_ns = kStart;
  kv.event.set_used_blocks(0);
  kv.event.set_total_blocks(10);
  data.kv_usage.push_back(kv);
  const ReadTrace trace = write_and_read(data);
  ASSERT_EQ(trace.counters.at("batch tokens").size(), 1u);
  EXPECT_TRUE(trace.counters.at("batch tokens")[0].has_counter_value());
  EXPECT_EQ(trace.counters.at("batch tokens")[0].counter_value(), 0);
  EXPECT_EQ(trace.counters.at("waiting requests")[0].counter_value(), 3);
  ASSERT_EQ(trace.counters.at("KV cache usage (%)").size(), 1u);
  EXPECT_TRUE(trace.counters.at("KV cache usage (%)")[0].has_double_counter_value());
  EXPECT_EQ(trace.counters.at("KV cache usage (%)")[0].double_counter_value(), 0.0);
  EXPECT_EQ(trace.tracks_named("scheduler").size(), 1u);
}

TEST(PerfettoTrace, ReportsProgressUpToTheTotal) {
  TestSession data = one_process();
  for (int i = 0; i < 10; ++i) data.cpu_operations.push_back(operation(kStart + i * 100, 50, "op"));
  TempDir dir;
  uint64_t last_done = 0;
  uint64_t last_total = 0;
  exporter::write_perfetto_trace(testing::streamed(data)->stream, dir / "t",
                                 [&](uint64_t done, uint64_t total) {
                                   EXPECT_LE(done, total);
                                   EXPECT_GE(done, last_done) << "never goes back";
                                   last_done = done;
                                   last_total = total;
                                 });
  EXPECT_EQ(last_total, 20u) << "a BEGIN and an END per slice";
  EXPECT_EQ(last_done, 20u);
}

TEST(PerfettoTrace, ThrowsNamingThePathAndLeavesNoFile) {
  const TestSession data = one_process();
  TempDir dir;
  try {
    exporter::write_perfetto_trace(testing::streamed(data)->stream, dir / "missing/t.perfetto-trace");
    FAIL() << "no error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(dir / "missing/t.perfetto-trace"), std::string::npos);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "missing"));
}

// ---------------------------------------------------------------------------------------------
// The progress bar

std::string drawn(bool enabled, uint64_t minimum, const std::vector<std::pair<uint64_t, uint64_t>>& updates) {
  std::FILE* out = std::tmpfile();
  {
    exporter::ProgressBar bar("Writing", out, enabled, minimum);
    for (const auto& [done, total] : updates) bar.update(done, total);
  }
  std::string text(static_cast<size_t>(std::ftell(out)), '\0');
  std::rewind(out);
  const size_t read = std::fread(text.data(), 1, text.size(), out);
  std::fclose(out);
  text.resize(read);
  return text;
}

TEST(ProgressBar, DrawsEachPercentOnceAndErasesItselfAtTheEnd) {
  const std::string text = drawn(true, 0, {{0, 200}, {1, 200}, {2, 200}, {100, 200}, {200, 200}});
  EXPECT_NE(text.find("\rWriting ["), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 4 + 1) << "0%, 1% (once), 50%, 100%, and the erase";
  EXPECT_NE(text.find("100%"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 4), "\r\033[K");
}

TEST(ProgressBar, DrawsNothingOffATerminalOrForAShortConversion) {
  EXPECT_EQ(drawn(false, 0, {{0, 10}, {10, 10}}), "");
  EXPECT_EQ(drawn(true, 1000, {{0, 10}, {10, 10}}), "");
}

}  // namespace
}  // namespace profilemate
