// `profilemate stats` and `compare`: golden output for the checked-in sessions, the arithmetic of
// the graph report on a hand-built session, the table helpers, and the command's errors.
#include <gtest/gtest.h>

#include <algorithm>

#include "compare_reports.h"
#include "report_table.h"
#include "session_reports.h"
#include "test_session.h"
#include "test_support.h"

namespace profilemate::stats {
namespace {

using exporter::Row;
using testing::TestSession;

// The reports of a session built by hand.
std::vector<Table> reports_of(const TestSession& session) {
  return session_reports(testing::streamed(session)->stream, "/tmp");
}

testing::CommandResult in_golden_dir(const std::string& args) {
  return testing::run_command("cd " + testing::source_dir() + "/golden && " + PROFILEMATE_CLI + " " + args);
}

struct GoldenCase {
  const char* args;
  const char* expected;
};

TEST(ReportsGolden, StatsAndCompareOfTheCheckedInSessionsPrintExactlyAsCheckedIn) {
  const GoldenCase cases[] = {
      {"stats synthetic/session", "stats.txt"},
      {"stats synthetic/session --format json", "stats.json"},
      {"stats synthetic/session --report steps --format csv", "steps.csv"},
      {"compare synthetic/session reports/session_b", "compare.txt"},
      {"compare synthetic/session reports/session_b --report graphs,kv --format csv", "compare.csv"},
  };
  for (const GoldenCase& golden : cases) {
    const testing::CommandResult result = in_golden_dir(golden.args);
    ASSERT_EQ(result.exit_code, 0) << golden.args << ": " << result.err;
    const std::string expected =
        testing::read_file(testing::source_dir() + "/golden/reports/" + golden.expected);
    EXPECT_TRUE(result.out == expected)
        << "profilemate " << golden.args << " differs from " << golden.expected << " at "
        << testing::first_difference(expected, result.out)
        << "\n(regenerate with tests/golden/reports/regenerate.sh if intended)";
  }
}

// One process; one FULL graph for 16 tokens, replayed in two of three forward passes.
TestSession two_replays_and_an_eager_step() {
  TestSession data;
  data.processes.emplace_back();
  data.processes[0].header.set_pid(7);
  Row<GraphCapture> capture{0, 10, {}};
  capture.event.set_graph_id(1);
  capture.event.mutable_context()->set_runtime_mode("FULL");
  capture.event.mutable_context()->set_num_tokens(16);
  capture.event.mutable_context()->set_num_reqs(16);
  data.captures.push_back(capture);
  Row<GraphInstantiate> instantiate{0, 20, {}};
  instantiate.event.set_graph_id(1);
  instantiate.event.set_exec_id(101);
  data.instantiations[{0, 1}] = instantiate;
  for (const auto& [start, tokens] : {std::pair<uint64_t, uint32_t>{1000, 10}, {2000, 12}, {3000, 40}}) {
    Row<ForwardPass> pass{0, start, {}};
    pass.event.set_duration_ns(100);
    pass.event.set_num_tokens(tokens);
    data.forward_passes.push_back(pass);
  }
  for (const uint64_t launch : {1050, 2050}) {
    data.replays.push_back(
        {.process = 0, .exec_id = 101, .unix_ns = launch, .gpu_ns = 4000, .has_gpu = true});
  }
  return data;
}

const std::vector<Cell>& row_named(const Table& table, const std::string& key) {
  const auto found = std::find_if(table.rows.begin(), table.rows.end(),
                                  [&](const auto& row) { return row[0].str() == key; });
  EXPECT_NE(found, table.rows.end()) << "no row " << key << " in " << table.name;
  return *found;
}

TEST(GraphsReport, ReplaysAreMatchedToTheForwardPassesTheyRanInForHitRateAndPadding) {
  const std::vector<Table> reports = reports_of(two_replays_and_an_eager_step());
  const Table& graphs = reports.front();
  ASSERT_EQ(graphs.name, "graphs");
  const std::vector<Cell>& full = row_named(graphs, "FULL n=16 reqs=16");
  EXPECT_EQ(full[1].str(), "1") << "captures";
  EXPECT_EQ(full[2].str(), "2") << "replays";
  EXPECT_EQ(full[4].str(), "2") << "forward passes that replayed it";
  EXPECT_NEAR(full[5].as_double(), 100.0 * 2 / 3, 0.1) << "hit rate";
  EXPECT_NEAR(full[6].as_double(), 100.0 * (32 - 22) / 32, 0.1) << "padding: 16+16 computed for 10+12";
  EXPECT_NEAR(full[7].as_double(), 0.008, 1e-9) << "GPU total, ms";
  EXPECT_NEAR(full[8].as_double(), 4.0, 1e-9) << "GPU mean, us";
  const auto note = std::find_if(graphs.notes.begin(), graphs.notes.end(),
                                 [](const std::string& n) { return n.starts_with("3 forward passes"); });
  ASSERT_NE(note, graphs.notes.end());
  EXPECT_EQ(*note, "3 forward passes: 2 replayed a graph, 1 ran without one (largest: 40 tokens).");
}

TEST(GraphsReport, ReplaysCountedInPythonAppearWithoutGpuTime) {
  TestSession data;
  data.processes.emplace_back();
  exporter::DescriptorUsage counted;
  counted.descriptor.set_runtime_mode("PIECEWISE");
  counted.descriptor.set_num_tokens(256);
  counted.replays = 9;
  data.descriptor_replays[{0, "key"}] = counted;
  const Table graphs = reports_of(data).front();
  const std::vector<Cell>& row = row_named(graphs, "PIECEWISE n=256");
  EXPECT_EQ(row[2].str(), "9");
  EXPECT_EQ(row[7].value.index(), 0u) << "no GPU time without CUPTI";
}

TEST(GraphsReport, ReplaysCountedInPythonAndByCuptiInOneProcessCountOnce) {
  TestSession data = two_replays_and_an_eager_step();  // CUPTI saw 2 replays in process 0
  data.exec_usage[{0, 101}].replays = 2;
  exporter::DescriptorUsage counted;  // and the Python hooks counted the same 2
  counted.descriptor.set_runtime_mode("FULL");
  counted.descriptor.set_num_tokens(16);
  counted.descriptor.set_num_reqs(16);
  counted.replays = 2;
  data.descriptor_replays[{0, "key"}] = counted;
  data.processes.emplace_back();  // a process without CUPTI (inside nsys): its counts stand
  data.descriptor_replays[{1, "key"}] = counted;
  const Table graphs = reports_of(data).front();
  EXPECT_EQ(row_named(graphs, "FULL n=16 reqs=16")[2].str(), "4")
      << "CUPTI's 2 in process 0, Python's 2 in 1";
}

TEST(HealthReport, DropsAreCountedPerProcessAndNamedByReason) {
  TestSession data;
  data.processes.emplace_back();
  data.processes[0].header.set_pid(7);
  data.processes[0].dropped[{2, DroppedRecords::BUFFER_FULL}] = 3;
  data.processes[0].dropped[{3, DroppedRecords::WAIT_TIMEOUT}] = 5;
  data.processes[0].dropped[{4, DroppedRecords::WAIT_TIMEOUT}] = 1;
  const Table health = reports_of(data).back();
  ASSERT_EQ(health.name, "health");
  EXPECT_EQ(row_named(health, "7")[3].str(), "9") << "dropped, all reasons";
  for (const char* note : {"pid 7 dropped 3 records: buffer_full", "pid 7 dropped 6 records: wait_timeout"}) {
    EXPECT_NE(std::find(health.notes.begin(), health.notes.end(), note), health.notes.end())
        << "missing note: " << note;
  }
}

// With expert parallelism each rank counts the experts it holds: a row per (process, layer),
// with the process's host and EP rank, so one layer's load across ranks reads down the column.
TEST(MoeReport, EachRowNamesTheHostAndExpertParallelRankOfItsProcess) {
  TestSession data;
  for (uint32_t rank = 0; rank < 2; ++rank) {
    exporter::Process& process = data.processes.emplace_back();
    process.header.set_pid(100 + rank);
    process.header.set_host(rank == 0 ? "node1" : "node2");
    process.info.set_ep_rank(rank);
    data.expert_counts[{rank, 0}] = rank == 0 ? std::vector<uint64_t>{30, 10} : std::vector<uint64_t>{5, 15};
  }
  const std::vector<Table> tables = reports_of(data);
  const auto moe = std::find_if(tables.begin(), tables.end(), [](const Table& t) { return t.name == "moe"; });
  ASSERT_NE(moe, tables.end());
  ASSERT_EQ(moe->rows.size(), 2u);
  const std::vector<std::string> columns(moe->columns.begin(), moe->columns.begin() + 4);
  EXPECT_EQ(columns, (std::vector<std::string>{"host", "pid", "ep_rank", "layer"}));
  for (size_t rank = 0; rank < 2; ++rank) {
    const std::vector<Cell>& row = moe->rows[rank];
    EXPECT_EQ(row[0].str(), rank == 0 ? "node1" : "node2") << "rank " << rank;
    EXPECT_EQ(row[2].str(), std::to_string(rank)) << "rank " << rank;
    EXPECT_EQ(row[5].str(), rank == 0 ? "40" : "20") << "selections of rank " << rank;
  }
}

TEST(HealthReport, HowTheGpuRecordsJoinedIsANoteAndAFailedJoinIsSaidPlainly) {
  TestSession data;
  for (const uint32_t pid : {7u, 8u}) {
    data.processes.emplace_back();
    data.processes.back().header.set_pid(pid);
    GpuRecordStats stats;
    stats.set_replays_with_gpu(pid == 7 ? 90 : 0);
    stats.set_replays_without_gpu(10);
    stats.set_late_gpu_times(pid == 7 ? 4 : 0);
    stats.set_unmatched_gpu_records(pid == 7 ? 1 : 10);
    stats.set_buffers_declined(pid == 7 ? 0 : 3);
    data.processes.back().gpu_records = stats;
  }
  const Table health = reports_of(data).back();
  for (const char* note :
       {"pid 7 GPU records: 90 replays with GPU time, 10 without (4 of them given it late), 1 GPU records "
        "matched no launch, 0 activity buffers declined",
        "pid 8 GPU records: 0 replays with GPU time, 10 without (0 of them given it late), 10 GPU records "
        "matched no launch, 3 activity buffers declined: no replay got GPU time"}) {
    EXPECT_NE(std::find(health.notes.begin(), health.notes.end(), note), health.notes.end())
        << "missing note: " << note;
  }
}

TEST(ReportTable, CsvQuotesWhatNeedsIt) {
  const Table table{"t",
                    "T",
                    {"name", "value"},
                    1,
                    {{Cell::text("a,b"), Cell::number(1.5, 2)}, {Cell::text("say \"hi\""), Cell::none()}},
                    {}};
  EXPECT_EQ(render_csv(table), "name,value\n\"a,b\",1.50\n\"say \"\"hi\"\"\",\n");
}

TEST(ReportTable, FlattenNamesEveryNumberByTableRowAndColumn) {
  const Table table{"moe",
                    "",
                    {"pid", "layer", "experts", "note"},
                    2,
                    {{Cell::integer(7), Cell::integer(3), Cell::integer(8), Cell::text("x")}},
                    {}};
  const auto named = flatten(table);
  ASSERT_EQ(named.size(), 1u) << "text cells are not numbers";
  EXPECT_EQ(named[0].first, "moe.7,3.experts");
}

TEST(CompareTables, DeltasAndRatiosLineUpByNameAndMissingSidesStayEmpty) {
  const Table a{"steps",
                "",
                {"metric", "p50"},
                1,
                {{Cell::text("tokens"), Cell::integer(100)}, {Cell::text("util"), Cell::number(50.0, 2)}},
                {}};
  const Table b{"steps",
                "",
                {"metric", "p50"},
                1,
                {{Cell::text("util"), Cell::number(75.0, 2)}, {Cell::text("queue"), Cell::integer(3)}},
                {}};
  const Table compared = compare_tables({a}, {b});
  ASSERT_EQ(compared.rows.size(), 3u);
  EXPECT_EQ(compared.rows[0][0].str(), "steps.tokens.p50");
  EXPECT_EQ(compared.rows[0][2].value.index(), 0u) << "B lacks it";
  EXPECT_EQ(compared.rows[1][0].str(), "steps.util.p50");
  EXPECT_EQ(compared.rows[1][3].str(), "25.00");
  EXPECT_EQ(compared.rows[1][4].str(), "1.500");
  EXPECT_EQ(compared.rows[2][0].str(), "steps.queue.p50") << "B's own metrics come last";
}

TEST(StatsCommand, AnUnknownReportNamesTheValidOnes) {
  const testing::CommandResult result = in_golden_dir("stats synthetic/session --report graph");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("unknown report 'graph': expected one of graphs steps kv preemptions moe health"),
            std::string::npos)
      << result.err;
}

TEST(StatsCommand, ADirectoryThatIsNoSessionIsExitCodeOne) {
  testing::TempDir empty;
  const testing::CommandResult result =
      testing::run_command(std::string(PROFILEMATE_CLI) + " stats " + empty.path());
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find(empty.path()), std::string::npos)
      << "the error names the directory: " << result.err;
}

TEST(StatsCommand, OutputGoesToTheFileNamedAndThePathIsPrinted) {
  testing::TempDir dir;
  const testing::CommandResult result =
      in_golden_dir("stats synthetic/session --report kv --format csv -o " + (dir / "kv.csv"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(result.out.empty());
  EXPECT_NE(result.err.find(dir / "kv.csv"), std::string::npos);
  EXPECT_TRUE(testing::read_file(dir / "kv.csv").starts_with("metric,unit,count,mean,min,p50,p90,p99,max\n"));
}

TEST(CompareCommand, NeedsExactlyTwoSessions) {
  const testing::CommandResult result = in_golden_dir("compare synthetic/session");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("compare needs two session directories (got 1)"), std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace profilemate::stats
