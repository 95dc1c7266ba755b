// `profilemate export` as a user runs it: exit codes, messages, and damaged sessions.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <sstream>

#include "test_support.h"

namespace profilemate {
namespace {

using testing::read_file;
using testing::TempDir;

using CliResult = testing::CommandResult;

CliResult run_cli(const std::string& args) {
  return testing::run_command(std::string(PROFILEMATE_CLI) + " " + args);
}

std::string golden_session() {
  return testing::source_dir() + "/golden/synthetic/session";
}

size_t csv_rows(const std::string& path) {
  const std::string text = read_file(path);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) - 1;
}

// A copy of the golden session to damage.
std::string copy_golden(const TempDir& dir) {
  std::string session = dir / "session";
  std::filesystem::copy(golden_session(), session);
  return session;
}

// The log of the process that recorded events of `kind`.
std::string log_with(const std::string& session, Record::EventCase kind) {
  for (const std::string& log : testing::files_with_suffix(session, ".pmlog")) {
    for (const testing::FramedRecord& frame : testing::frames_of(read_file(log))) {
      if (frame.kind == kind) return log;
    }
  }
  return {};
}

TEST(ExportCli, ConvertsASessionAndPrintsEveryPathItWrote) {
  TempDir out;
  const CliResult result = run_cli("export " + golden_session() + " --output " + out.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  for (const char* name :
       {"cuda_graph_captures.csv", "cuda_graph_usage.csv", "cuda_graph_replays.csv", "kv_cache_usage.csv",
        "kv_cache_evictions.csv", "moe_expert_selection.csv", "moe_expert_timing.csv",
        "forward_pass_timing.csv", "cpu_operations_timing.csv", "batch_utilization.csv",
        "preemption_events.csv", "encoder_decoder_timing.csv", "metadata.json"}) {
    EXPECT_NE(result.out.find(out / name), std::string::npos) << name << " not announced";
    EXPECT_TRUE(std::filesystem::exists(out / name)) << name;
  }
}

TEST(ExportCli, ConvertsWhatIsReadableFromASessionWithATornTailAndACorruptMiddleRecord) {
  TempDir dir;
  const std::string session = copy_golden(dir);
  // Corrupt the body of the first KV usage sample in the engine core's log.
  const std::string engine_log = log_with(session, Record::kKvUsage);
  std::string engine = read_file(engine_log);
  testing::FramedRecord corrupted;
  for (const testing::FramedRecord& frame : testing::frames_of(engine)) {
    if (frame.kind == Record::kKvUsage) {
      corrupted = frame;
      break;
    }
  }
  for (uint64_t i = 1; i < corrupted.size; ++i) engine[corrupted.offset + i] = '\xff';
  testing::write_file(engine_log, engine);
  // Cut the worker's log three bytes into its last forward pass, as a SIGKILL mid-write would.
  const std::string worker_log = log_with(session, Record::kForwardPass);
  const std::string worker = read_file(worker_log);
  uint64_t last_pass = 0;
  for (const testing::FramedRecord& frame : testing::frames_of(worker)) {
    if (frame.kind == Record::kForwardPass) last_pass = frame.offset;
  }
  testing::write_file(worker_log, worker.substr(0, last_pass + 3));

  const CliResult result = run_cli("export " + session + " -o " + (dir / "out"));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(
      result.err.find(engine_log + ": corrupt record at byte offset " + std::to_string(corrupted.offset)),
      std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find(worker_log + ": the last record is incomplete (3 bytes"), std::string::npos)
      << result.err;

  const std::string expected = testing::source_dir() + "/golden/synthetic/expected";
  EXPECT_EQ(csv_rows(dir / "out/kv_cache_usage.csv"), csv_rows(expected + "/kv_cache_usage.csv") - 1);
  EXPECT_EQ(csv_rows(dir / "out/forward_pass_timing.csv"),
            csv_rows(expected + "/forward_pass_timing.csv") - 1);
  EXPECT_EQ(csv_rows(dir / "out/batch_utilization.csv"), csv_rows(expected + "/batch_utilization.csv"))
      << "records around the damage are all converted";
  const std::string metadata = read_file(dir / "out/metadata.json");
  EXPECT_NE(metadata.find("\"torn_tail_records\": 1,\n    \"torn_tail_bytes\": 3,"), std::string::npos)
      << metadata;
  EXPECT_NE(metadata.find("\"offset\": " + std::to_string(corrupted.offset)), std::string::npos);
  EXPECT_NE(metadata.find("\"corrupt_spans\": 1,"), std::string::npos);
}

TEST(ExportCli, FailsWithOneLineAndExitCode1OnADirectoryThatIsNotASession) {
  TempDir empty;
  const CliResult result = run_cli("export " + empty.path());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find("is not a ProfileMate session"), std::string::npos) << result.err;
}

TEST(ExportCli, FailsWithExitCode1OnALogFromANewerSchema) {
  TempDir dir;
  Header header;
  header.set_schema_version(SCHEMA_VERSION + 5);
  testing::write_file(dir / "process_1.pmlog", testing::log_bytes(header, {}));
  const CliResult result = run_cli("export " + dir.path());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("use a newer profilemate"), std::string::npos) << result.err;
}

TEST(ExportCli, FailsWithExitCode3WhenTheOutputCannotBeWritten) {
  TempDir dir;
  testing::write_file(dir / "blocker", "a file where a directory should go");
  const CliResult result = run_cli("export " + golden_session() + " -o " + (dir / "blocker/out"));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.err.find(dir / "blocker/out"), std::string::npos) << result.err;
}

TEST(ExportCli, ExplainsWrongUsageWithExitCode2) {
  EXPECT_EQ(run_cli("").exit_code, 2);
  EXPECT_EQ(run_cli("frobnicate").exit_code, 2);
  const CliResult missing = run_cli("export");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--help"), std::string::npos);
  EXPECT_EQ(run_cli("export a b").exit_code, 2);
  EXPECT_EQ(run_cli("export a --type pdf").exit_code, 2);
  EXPECT_EQ(run_cli("export a --bogus").exit_code, 2);
}

TEST(ExportCli, HelpListsEveryCommandAndEachCommandHasExamples) {
  const CliResult main_help = run_cli("--help");
  EXPECT_EQ(main_help.exit_code, 0);
  EXPECT_NE(main_help.out.find("export"), std::string::npos);
  EXPECT_NE(main_help.out.find("Exit codes"), std::string::npos);
  for (const char* command : {"export", "dump"}) {
    const CliResult help = run_cli(std::string(command) + " --help");
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.out.find("Example"), std::string::npos) << command;
  }
}

TEST(DumpCli, PrintsTheHeaderAndEveryRecordOfALog) {
  const std::string log = testing::files_with_suffix(golden_session(), ".pmlog").front();
  const CliResult result = run_cli("dump " + log);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out.rfind("header {", 0), 0u) << result.out.substr(0, 200);
  const size_t frames = testing::frames_of(read_file(log)).size();
  EXPECT_EQ(static_cast<size_t>(std::count(result.out.begin(), result.out.end(), '\n')), frames + 1)
      << "one line per record and a summary line";
}

}  // namespace
}  // namespace profilemate
