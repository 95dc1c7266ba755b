// One run over several hosts: each host writes its own directory for the session (same session
// id), and export, stats and the Perfetto trace read the directories, or a directory holding
// them, as one run.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "export_session.h"
#include "parquet_file.h"
#include "perfetto_trace.pb.h"
#include "pmlog_reader.h"
#include "session_reports.h"
#include "test_support.h"

namespace profilemate::exporter {
namespace {

using testing::read_file;
using testing::TempDir;

constexpr uint64_t kStart = 1'700'000'000'000'000'000;
constexpr uint64_t kHour = 3'600'000'000'000;

struct Host {
  std::string name;
  uint32_t pid;
  uint32_t dp_rank;
  int steps;
  uint64_t start = kStart;
  std::string session = "run1";
  uint64_t start_monotonic = 5'000'000'000;
};

// The log of one host's engine core: `steps` scheduler steps, 1 ms apart, 10 tokens each.
void write_host(const std::string& root, const Host& host) {
  Header header;
  header.set_schema_version(SCHEMA_VERSION);
  header.set_pid(host.pid);
  header.set_host(host.name);
  header.set_session_id(host.session);
  header.set_start_realtime_ns(host.start);
  header.set_start_monotonic_ns(host.start_monotonic);
  header.mutable_info()->set_process_role("EngineCore_DP" + std::to_string(host.dp_rank));
  header.mutable_info()->set_dp_rank(host.dp_rank);
  std::vector<Record> records;
  for (int i = 1; i <= host.steps; ++i) {
    Record record;
    SchedulerStep& step = *record.mutable_scheduler_step();
    step.set_step(static_cast<uint64_t>(i));
    step.set_t_ns(static_cast<uint64_t>(i) * 1'000'000);
    step.set_num_tokens(10);
    records.push_back(record);
  }
  const std::string dir = root + "/" + host.name + "/" + host.session;
  std::filesystem::create_directories(dir);
  testing::write_file(dir + "/process_" + std::to_string(host.pid) + ".pmlog",
                      testing::log_bytes(header, records));
}

std::vector<std::string> column(const std::string& csv, const std::string& name) {
  std::istringstream text(read_file(csv));
  std::string line;
  std::getline(text, line);
  std::vector<std::string> header;
  std::istringstream names(line);
  for (std::string cell; std::getline(names, cell, ',');) header.push_back(cell);
  const auto at = static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  std::vector<std::string> values;
  while (std::getline(text, line)) {
    std::istringstream cells(line);
    std::string cell;
    for (size_t i = 0; i <= at && std::getline(cells, cell, ','); ++i) {
    }
    values.push_back(cell);
  }
  return values;
}

class MultiHost : public ::testing::Test {
 protected:
  void SetUp() override {
    write_host(tmp_.path(), {"head", 100, 0, 3});
    write_host(tmp_.path(), {"node2", 100, 1, 5});  // the same pid on the other host
  }
  [[nodiscard]] std::vector<std::string> dirs() const { return {tmp_ / "head/run1", tmp_ / "node2/run1"}; }
  TempDir tmp_;
};

TEST_F(MultiHost, TwoHostsDirectoriesExportAsOneRunWithTheHostInEveryRow) {
  const std::string out = tmp_ / "out";
  const ExportResult result = export_session(RunSource(dirs(), false), out);
  EXPECT_EQ(result.processes, 2u);
  EXPECT_TRUE(result.warnings.empty()) << result.warnings.front();
  const std::vector<std::string> hosts = column(out + "/batch_utilization.csv", "host");
  EXPECT_EQ(
      std::multiset<std::string>(hosts.begin(), hosts.end()),
      (std::multiset<std::string>{"head", "head", "head", "node2", "node2", "node2", "node2", "node2"}));
  const std::string metadata = read_file(out + "/metadata.json");
  EXPECT_NE(metadata.find(R"("log_file": ")" + (tmp_ / "node2/run1/process_100.pmlog")), std::string::npos)
      << "two logs of one name: the directory says which";
  EXPECT_NE(metadata.find(R"("host": "head",
      "pids": [
        100
      ])"),
            std::string::npos)
      << metadata;
  EXPECT_NE(metadata.find(R"("host": "node2")"), std::string::npos);
  EXPECT_NE(metadata.find(R"("clock": "CLOCK_REALTIME of each host, assumed synchronised)"),
            std::string::npos);
  EXPECT_NE(metadata.find(R"("dp": 1)"), std::string::npos);
}

TEST_F(MultiHost, TheParquetExportHasOnePartitionPerHost) {
  if (!parquet_supported()) GTEST_SKIP() << parquet_unsupported_reason();
  const std::string out = tmp_ / "tables";
  ExportOptions options;
  options.format = TableFormat::kParquet;
  const ExportResult result = export_session(RunSource(dirs(), false), out, options);
  const auto steps = std::find_if(result.files.begin(), result.files.end(), [](const OutputFile& file) {
    return file.name.starts_with("batch_utilization");
  });
  ASSERT_NE(steps, result.files.end());
  EXPECT_EQ(steps->rows, 8u);
  for (const char* host : {"head", "node2"}) {
    const std::string file = out + "/batch_utilization/session=run1/hostname=" + host + "/part-0.parquet";
    EXPECT_TRUE(std::filesystem::is_regular_file(file)) << file << " is missing";
  }
  size_t partitions = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out + "/batch_utilization/session=run1")) {
    partitions += entry.is_directory() ? 1 : 0;
  }
  EXPECT_EQ(partitions, 2u) << "one hostname= directory per host";
}

TEST_F(MultiHost, ADirectoryHoldingTheHostsDirectoriesIsTheSameRun) {
  const std::string holding = tmp_ / "all";
  std::filesystem::create_directories(holding);
  std::filesystem::rename(tmp_ / "head/run1", holding + "/head-run1");
  std::filesystem::rename(tmp_ / "node2/run1", holding + "/node2-run1");
  EXPECT_EQ(RunSource(holding).session_dirs(),
            (std::vector<std::string>{holding + "/head-run1", holding + "/node2-run1"}));
  const ExportResult result = export_session(RunSource(holding), tmp_ / "out");
  EXPECT_EQ(result.processes, 2u);
  EXPECT_EQ(column(tmp_ / "out/batch_utilization.csv", "host").size(), 8u);
}

TEST_F(MultiHost, DirectoriesOfDifferentSessionsAreRefusedUnlessForced) {
  write_host(tmp_.path(), {"node3", 7, 2, 1, kStart, "run2"});
  const std::vector<std::string> mixed = {tmp_ / "head/run1", tmp_ / "node3/run2"};
  try {
    export_session(RunSource(mixed, false), tmp_ / "out");
    FAIL() << "different sessions were read as one run";
  } catch (const reader::ReadError& error) {
    EXPECT_NE(std::string(error.what()).find("(session run1) and " + mixed[1] + " (session run2)"),
              std::string::npos)
        << error.what();
    EXPECT_NE(std::string(error.what()).find("--force"), std::string::npos) << error.what();
  }
  const ExportResult forced = export_session(RunSource(mixed, true), tmp_ / "out");
  ASSERT_EQ(forced.warnings.size(), 1u);
  EXPECT_NE(forced.warnings[0].find("different sessions, read as one run (--force)"), std::string::npos);
}

TEST_F(MultiHost, HostsThatNeverRecordedAtTheSameTimeAreSaidToDisagree) {
  write_host(tmp_.path(), {"late", 5, 2, 2, kStart + kHour});
  const ExportResult result =
      export_session(RunSource({tmp_ / "head/run1", tmp_ / "late/run1"}, false), tmp_ / "o");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].find("hosts head and late recorded 3599 s apart and never at the same time"),
            std::string::npos)
      << result.warnings[0];
}

TEST_F(MultiHost, AHostWhoseRealtimeClockSteppedBetweenItsProcessesIsSaidToBeOff) {
  // A second process on head started 1 s later by its monotonic clock, 10 s later by its realtime one.
  write_host(tmp_.path(), {"head", 101, 0, 3, kStart + 10'000'000'000, "run1", 6'000'000'000});
  const ExportResult result = export_session(RunSource(dirs(), false), tmp_ / "o");
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_NE(result.warnings[0].find("CLOCK_REALTIME of host head moved by 9 s against its monotonic clock"),
            std::string::npos)
      << result.warnings[0];
}

TEST_F(MultiHost, StepsAreReportedPerDataParallelEngine) {
  std::vector<std::string> warnings;
  const std::vector<stats::Table> tables = stats::session_reports(RunSource(dirs(), false), warnings);
  const stats::Table& steps = tables[1];
  ASSERT_EQ(steps.name, "steps");
  for (const auto& [row, value] : {std::pair{"steps_dp0@head", "3"}, std::pair{"steps_dp1@node2", "5"},
                                   std::pair{"tokens_dp0@head", "30"}, std::pair{"tokens_dp1@node2", "50"}}) {
    const stats::Cell* cell = stats::find_cell(steps, row, "count");
    ASSERT_NE(cell, nullptr) << row;
    EXPECT_EQ(cell->str(), value) << row;
  }
}

TEST_F(MultiHost, TheTimelineHasOneProcessGroupPerHost) {
  const ExportResult result = export_perfetto(RunSource(dirs(), false), tmp_ / "trace");
  perfetto::Trace trace;
  ASSERT_TRUE(trace.ParseFromString(read_file(tmp_ / ("trace/" + std::string(kTraceFileName)))));
  std::set<std::string> processes;
  std::set<std::string> groups_in_hosts;
  for (const perfetto::TracePacket& packet : trace.packet()) {
    if (!packet.has_track_descriptor()) continue;
    const perfetto::TrackDescriptor& track = packet.track_descriptor();
    if (track.has_process()) processes.insert(track.process().process_name());
    if (track.has_parent_uuid() && track.name().starts_with("EngineCore"))
      groups_in_hosts.insert(track.name());
  }
  EXPECT_EQ(processes, (std::set<std::string>{"host head", "host node2"}));
  EXPECT_EQ(groups_in_hosts, (std::set<std::string>{"EngineCore_DP0 (pid 100)", "EngineCore_DP1 (pid 100)"}));
}

testing::CommandResult run_cli(const std::string& args) {
  return testing::run_command(std::string(PROFILEMATE_CLI) + " " + args);
}

TEST_F(MultiHost, TheCommandsTakeSeveralDirectoriesAndForce) {
  const std::string both = dirs()[0] + " " + dirs()[1];
  const auto no_output = run_cli("export " + both);
  EXPECT_EQ(no_output.exit_code, 2) << no_output.err;
  EXPECT_NE(
      no_output.err.find("several session directories: say where the merged run goes with --output DIR"),
      std::string::npos)
      << no_output.err;
  const auto exported = run_cli("export " + both + " -o " + (tmp_ / "out"));
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.out.find("from 2 process log(s) in " + dirs()[0] + ", " + dirs()[1] +
                              " (2 session directories)"),
            std::string::npos)
      << exported.out;
  const auto stats = run_cli("stats " + both + " --report steps --format csv");
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("steps_dp1@node2,steps,5"), std::string::npos) << stats.out;

  write_host(tmp_.path(), {"node3", 7, 2, 1, kStart, "run2"});
  const std::string mixed = dirs()[0] + " " + (tmp_ / "node3/run2");
  const auto refused = run_cli("stats " + mixed);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("are different sessions; pass --force"), std::string::npos) << refused.err;
  EXPECT_EQ(run_cli("stats --force " + mixed).exit_code, 0);
  EXPECT_EQ(run_cli("compare " + (tmp_ / "node3") + " " + dirs()[0]).exit_code, 0)
      << "a directory holding the hosts' directories is one side";
}

}  // namespace
}  // namespace profilemate::exporter
