// The streaming export on logs that are not in time order (a writer drains thread rings one after
// another; graph replays are written when their GPU record arrives): rows come out in time
// order, ties in recording order, whether the sort fits in memory or spills runs to disk.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include "csv_files.h"
#include "export_session.h"
#include "gpu_times.h"
#include "percentile.h"
#include "sorted_sink.h"
#include "test_support.h"

namespace profilemate::exporter {
namespace {

constexpr uint64_t kStart = 1'700'000'000'000'000'000;

Header header_of(uint32_t pid, uint64_t start) {
  Header header;
  header.set_schema_version(SCHEMA_VERSION);
  header.set_pid(pid);
  header.set_start_realtime_ns(start);
  return header;
}

Record replay(uint32_t exec, uint32_t thread, uint64_t t_ns) {
  Record record;
  GraphReplay& r = *record.mutable_graph_replay();
  r.set_exec_id(exec);
  r.set_thread(thread);
  r.set_stream_id(7);
  r.set_cpu_enter_ns(t_ns);
  r.set_cpu_duration_ns(1000 + exec);
  r.set_gpu_start_offset_ns(500);
  r.set_gpu_duration_ns(10'000 + (t_ns % 977));
  return record;
}

Record step(uint64_t number, uint64_t t_ns) {
  Record record;
  record.mutable_scheduler_step()->set_step(number);
  record.mutable_scheduler_step()->set_t_ns(t_ns);
  record.mutable_scheduler_step()->set_num_tokens(static_cast<uint32_t>(number));
  return record;
}

// What the export must give for one process's records: (unix_ns, pid, thread, exec) per replay.
struct Expected {
  uint64_t unix_ns;
  uint32_t process;
  uint32_t pid;
  uint32_t thread;
  uint32_t exec;
};

// Two processes whose logs are out of order: three threads' rings drained one after another, a
// share of replays written seconds late, equal times within and across processes, and the graph
// context (capture, instantiation, thread info) written after the replays that need it.
struct Session {
  testing::TempDir dir;
  std::vector<Expected> replays;
  Session() {
    std::mt19937_64 random(9);
    for (uint32_t process = 0; process < 2; ++process) {
      const uint32_t pid = 100 + process;
      std::vector<Record> records;
      for (uint32_t thread = 1; thread <= 3; ++thread) {
        for (uint64_t i = 0; i < 700; ++i) {
          // Coarse times, so that many rows tie; some written late, out of place.
          uint64_t t = 1'000'000 + (i / 2) * 10'000;
          if (random() % 5 == 0) t += 3'000'000'000;
          const uint32_t exec = 1 + static_cast<uint32_t>(random() % 4);
          records.push_back(replay(exec, thread, t));
          replays.push_back({kStart + t, process, pid, thread, exec});
        }
        records.push_back(step(thread, 5'000'000'000 - thread));
      }
      for (uint32_t thread = 1; thread <= 3; ++thread) {
        Record info;
        info.mutable_thread_info()->set_thread(thread);
        info.mutable_thread_info()->set_tid(1000 * pid + thread);
        records.push_back(info);
      }
      Record capture;
      capture.mutable_graph_capture()->set_graph_id(3);
      capture.mutable_graph_capture()->set_begin_ns(10);
      capture.mutable_graph_capture()->mutable_context()->set_runtime_mode("FULL");
      capture.mutable_graph_capture()->mutable_context()->set_num_tokens(8);
      records.push_back(capture);
      Record inst;
      inst.mutable_graph_instantiate()->set_graph_id(3);
      inst.mutable_graph_instantiate()->set_exec_id(2);
      inst.mutable_graph_instantiate()->set_t_ns(20);
      records.push_back(inst);
      testing::write_file(dir / ("process_" + std::to_string(pid) + ".pmlog"),
                          testing::log_bytes(header_of(pid, kStart), records));
    }
    // Today's order: a stable sort by (time, process) of every process's rows in file order.
    std::stable_sort(replays.begin(), replays.end(), [](const Expected& a, const Expected& b) {
      return a.unix_ns != b.unix_ns ? a.unix_ns < b.unix_ns : a.process < b.process;
    });
  }
};

std::vector<std::vector<std::string>> csv_cells(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream text(testing::read_file(path));
  for (std::string line; std::getline(text, line);) {
    std::vector<std::string> cells;
    std::istringstream fields(line);
    for (std::string cell; std::getline(fields, cell, ',');) cells.push_back(cell);
    rows.push_back(std::move(cells));
  }
  return rows;
}

void expect_replays_in_todays_order(const Session& session, const std::string& out) {
  // timestamp_sec, host, pid, process_role, time_unix_ns, thread_id, stream_id, exec_id, graph_id,
  // runtime_mode
  const auto rows = csv_cells(out + "/cuda_graph_replays.csv");
  ASSERT_EQ(rows.size(), session.replays.size() + 1);
  for (size_t i = 0; i < session.replays.size(); ++i) {
    const Expected& want = session.replays[i];
    const std::vector<std::string>& row = rows[i + 1];
    ASSERT_EQ(row[4], std::to_string(want.unix_ns)) << "row " << i + 1 << ": time out of order";
    ASSERT_EQ(row[2], std::to_string(want.pid)) << "row " << i + 1 << ": tie between processes misordered";
    ASSERT_EQ(row[5], std::to_string(1000 * want.pid + want.thread)) << "row " << i + 1 << ": thread";
    ASSERT_EQ(row[7], std::to_string(want.exec)) << "row " << i + 1 << ": tie within a process misordered";
    // The context written after the replays still labels them.
    ASSERT_EQ(row[9], want.exec == 2 ? "FULL" : "") << "row " << i + 1;
  }
}

TEST(StreamingExport, RowsOfOutOfOrderLogsComeOutInTimeOrderAsBefore) {
  const Session session;
  testing::TempDir out;
  const ExportResult result = export_session(session.dir.path(), out.path());
  EXPECT_EQ(result.sort_runs_spilled, 0u) << "a small session sorts in memory";
  expect_replays_in_todays_order(session, out.path());
}

TEST(StreamingExport, SpillingToDiskGivesTheSameFilesByteForByte) {
  const Session session;
  testing::TempDir in_memory, spilled;
  export_session(session.dir.path(), in_memory.path());
  const ExportResult result =
      export_session(session.dir.path(), spilled.path(), {.sort_memory_bytes = 16 << 10});
  EXPECT_GE(result.sort_runs_spilled, 5u) << "the bound should have forced several runs";
  expect_replays_in_todays_order(session, spilled.path());
  for (const OutputFile& file : result.files) {
    EXPECT_EQ(testing::read_file(in_memory / file.name), testing::read_file(spilled / file.name))
        << file.name << " differs when the sort spills";
  }
  size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(spilled.path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, result.files.size()) << "the sort's temporary files must not be left behind";
}

TEST(SessionStream, ASortRunThatCannotBeWrittenFailsTheReadNamingItsDirectory) {
  // The sinks spill on the thread that collects rows while the next ones are read: what it
  // throws must reach the reader, neither lost nor left waiting.
  const Session session;
  testing::TempDir parent;
  const std::string gone = parent / "removed";
  SortMemory memory(gone, 16 << 10);
  try {
    SessionStream stream(RunSource(session.dir.path()), memory);
    FAIL() << "the read went on without anywhere to spill its rows";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("cannot create a sort run in " + gone), std::string::npos)
        << error.what();
  }
}

// A row whose key has few values, so that many rows tie; `seq` is its push order.
struct TieRow {
  uint32_t key_value = 0;
  uint32_t seq = 0;
  [[nodiscard]] uint32_t key() const { return key_value; }
};

std::vector<TieRow> drained(RowSink<TieRow>& sink) {
  std::vector<TieRow> rows;
  sink.drain([&](std::span<const TieRow> block) { rows.insert(rows.end(), block.begin(), block.end()); });
  return rows;
}

// What a stable sort gives, whether the rows arrive in order (runs read one after another) or not
// (runs merged), in memory or spilled.
TEST(RowSink, GivesWhatAStableSortGivesInOrderOrNotSpilledOrNot) {
  testing::TempDir spill;
  std::mt19937 random(7);
  for (const bool in_order : {true, false}) {
    for (const size_t limit : {size_t{1} << 30, size_t{4} << 10}) {
      SortMemory memory(spill.path(), limit);
      RowSink<TieRow> sink(memory);
      std::vector<TieRow> pushed;
      for (uint32_t i = 0; i < 50'000; ++i) {
        pushed.push_back({in_order ? i / 7 : static_cast<uint32_t>(random() % 100), i});
        sink.push(pushed.back());
      }
      std::stable_sort(pushed.begin(), pushed.end(),
                       [](const TieRow& a, const TieRow& b) { return a.key_value < b.key_value; });
      const std::vector<TieRow> rows = drained(sink);
      ASSERT_EQ(rows.size(), pushed.size());
      for (size_t i = 0; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].seq, pushed[i].seq)
            << "row " << i << (in_order ? " of in-order" : " of shuffled") << " input, limit " << limit;
      }
      EXPECT_EQ(memory.runs_spilled() > 0, limit < pushed.size() * sizeof(TieRow))
          << "the small bound should spill, the large one not";
    }
  }
}

// How the bound is shared: rows that arrive in order stay within an eighth of it (their runs need
// no merge, so long runs buy nothing); shuffled rows grow into the whole bound for long runs; and a
// sink that spills itself keeps its memory for the next run instead of freeing and regrowing it.
TEST(RowSink, OrderedRowsTakeAnEighthOfTheBoundShuffledOnesTheWholeAndSpillingKeepsTheMemory) {
  testing::TempDir spill;
  constexpr size_t kLimit = size_t{8} << 20;
  std::mt19937 random(3);
  for (const bool in_order : {true, false}) {
    SortMemory memory(spill.path(), kLimit);
    RowSink<TieRow> sink(memory);
    size_t most = 0;
    size_t after_first_spill = 0;
    for (uint32_t i = 0; i < 5'000'000; ++i) {
      sink.push({in_order ? i : static_cast<uint32_t>(random()), i});
      most = std::max(most, sink.memory_bytes());
      if (memory.runs_spilled() == 1 && after_first_spill == 0) after_first_spill = sink.memory_bytes();
    }
    const std::string input = in_order ? "in-order rows" : "shuffled rows";
    ASSERT_GT(memory.runs_spilled(), 1u) << input << ": 40 MB of rows in an 8 MiB bound must spill";
    EXPECT_EQ(sink.memory_bytes(), after_first_spill) << input << ": the memory must be kept across runs";
    if (in_order) {
      EXPECT_LE(most, kLimit / 8 + (64 << 10)) << input;
    } else {
      EXPECT_GE(most, kLimit / 2) << input << ": runs to merge should be long";
      EXPECT_LE(most, kLimit) << input;
    }
    EXPECT_EQ(drained(sink).size(), 5'000'000u) << input;
  }
}

// The same for events with payloads: in order they stay within a sixteenth of the bound (and a
// doubling), shuffled they grow to long runs; either way they come back in order.
TEST(SortedSink, OrderedEntriesTakeASixteenthOfTheBoundShuffledOnesMore) {
  testing::TempDir spill;
  constexpr size_t kLimit = size_t{16} << 20;
  std::mt19937 random(5);
  for (const bool in_order : {true, false}) {
    SortMemory memory(spill.path(), kLimit);
    SortedSink<uint64_t> sink(memory);
    size_t most = 0;
    const std::string payload(40, 'p');
    for (uint64_t i = 0; i < 1'000'000; ++i) {
      sink.push(in_order ? i : random(), std::as_bytes(std::span(payload)));
      most = std::max(most, sink.memory_bytes());
    }
    const std::string input = in_order ? "in-order entries" : "shuffled entries";
    ASSERT_GT(memory.runs_spilled(), 1u) << input << ": 50 MB of entries in a 16 MiB bound must spill";
    if (in_order) {
      EXPECT_LE(most, kLimit / 8) << input;
    } else {
      EXPECT_GT(most, kLimit / 4) << input << ": runs to merge should be long";
    }
    uint64_t previous = 0;
    uint64_t drained = 0;
    sink.drain([&](uint64_t key, std::span<const std::byte> bytes) {
      EXPECT_GE(key, previous) << input;
      EXPECT_EQ(bytes.size(), payload.size()) << input;
      previous = key;
      ++drained;
    });
    EXPECT_EQ(drained, 1'000'000u) << input;
  }
}

// Spilled launches come back as they went in, extreme values included.
TEST(ReplayRow, EncodesAndDecodesEveryField) {
  std::vector<ReplayRow> rows = {
      {0, 1, 7, 1, 1'000, 12'000, 30'000, 140'000, true},
      {3, UINT32_MAX, UINT32_MAX, UINT32_MAX, 1'000, UINT64_MAX, INT64_MIN, UINT64_MAX, false},
      {UINT32_MAX, 0, 0, 0, UINT64_MAX, 0, -1, 0, true},
      {1, 2, 3, 4, UINT64_MAX, 5, INT64_MAX, 6, false},
  };
  std::vector<std::byte> bytes(rows.size() * ReplayRow::kMaxEncodedBytes);
  bytes.resize(ReplayRow::encode(rows, bytes.data()));
  std::vector<ReplayRow> back(rows.size());
  ReplayRow::decode(bytes, back);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(std::memcmp(&rows[i], &back[i], offsetof(ReplayRow, has_gpu)), 0) << "row " << i;
    EXPECT_EQ(rows[i].has_gpu, back[i].has_gpu) << "row " << i;
  }
  bytes.pop_back();
  EXPECT_THROW(ReplayRow::decode(bytes, back), std::runtime_error) << "a truncated block must not decode";
}

// Exact nearest-rank percentiles, whether the times stay in memory as they came, packed into
// sorted runs in memory, or go to sorted runs on disk, times of 2^32 ns and more among them.
TEST(GpuTimes, PercentilesAreExactInMemoryPackedOrSpilled) {
  testing::TempDir spill;
  std::mt19937_64 random(11);
  for (const size_t limit : {size_t{1} << 30, size_t{16} << 20, size_t{64} << 10}) {
    SortMemory memory(spill.path(), limit);
    GpuTimes times(memory);
    std::map<GraphKey, std::vector<uint64_t>> expected;
    (void)times.graph(9, 9);  // a graph replayed without GPU time has no percentiles
    for (int i = 0; i < 2'500'000; ++i) {
      // One graph with more times than are unpacked to select from: its packed runs are merged.
      const GraphKey key =
          i % 5 != 0 ? GraphKey{7, 7}
                     : GraphKey{static_cast<uint32_t>(random() % 3), static_cast<uint32_t>(random() % 40)};
      const uint64_t ns = random() % 50 == 0 ? (uint64_t{1} << 32) + random() % 1000 : random() % 100'000;
      times.push(times.graph(key.first, key.second), ns);
      expected[key].push_back(ns);
    }
    if (limit == (size_t{16} << 20)) {
      EXPECT_LT(times.memory_bytes(), 2'500'000u * 2)
          << "packed, a time of a graph whose times lie close together takes under 2 bytes";
    }
    const std::map<GraphKey, GpuPercentiles> got = times.percentiles();
    ASSERT_EQ(got.size(), expected.size());
    for (auto& [key, values] : expected) {
      EXPECT_EQ(got.at(key).p50_ns, nearest_rank(values, 0.50))
          << "p50 of graph " << key.second << ", limit " << limit;
      EXPECT_EQ(got.at(key).p99_ns, nearest_rank(values, 0.99))
          << "p99 of graph " << key.second << ", limit " << limit;
    }
    EXPECT_EQ(memory.runs_spilled() > 0, limit < (size_t{1} << 20))
        << "the small bound should spill, the others not";
  }
}

// docs/csv-reference.md names every column of every file, in the file's section.
TEST(CsvReference, NamesEveryColumnOfEveryFile) {
  const std::string docs = testing::read_file(testing::source_dir() + "/../docs/csv-reference.md");
  for (const CsvFileInfo& file : csv_file_columns()) {
    const size_t section = docs.find("## " + std::string(file.name));
    ASSERT_NE(section, std::string::npos) << file.name << " has no section in docs/csv-reference.md";
    const size_t end = docs.find("\n## ", section + 1);
    const std::string text =
        docs.substr(section, end == std::string::npos ? std::string::npos : end - section);
    for (const ColumnInfo& column : file.columns) {
      // A table row names it first in its cell: "| name |" or "| a, name, b |".
      bool named = false;
      std::istringstream lines(text);
      for (std::string line; std::getline(lines, line) && !named;) {
        if (!line.starts_with("| ")) continue;
        std::istringstream cell(line.substr(2, line.find(" |", 2) - 2));
        for (std::string name; std::getline(cell >> std::ws, name, ',');)
          named = named || name == column.name;
      }
      EXPECT_TRUE(named) << file.name << ": column " << column.name << " is not in docs/csv-reference.md";
    }
  }
}

}  // namespace
}  // namespace profilemate::exporter

namespace profilemate::exporter {
namespace {

Record late_replay(uint64_t t_ns, uint32_t correlation_id) {
  Record record;
  GraphReplay& r = *record.mutable_graph_replay();
  r.set_exec_id(4);
  r.set_cpu_enter_ns(t_ns);
  r.set_cpu_duration_ns(100);
  r.set_correlation_id(correlation_id);
  return record;
}

Record late_gpu_time(uint32_t correlation_id, uint64_t start_ns, uint64_t duration_ns) {
  Record record;
  GraphReplayGpuTime& t = *record.mutable_graph_replay_gpu_time();
  t.set_correlation_id(correlation_id);
  t.set_gpu_start_ns(start_ns);
  t.set_gpu_duration_ns(duration_ns);
  return record;
}

TEST(StreamingExport, LateGpuTimesJoinTheirReplaysWhicheverComesFirstInTheLog) {
  testing::TempDir dir;
  testing::TempDir out;
  // Replays written without GPU time (overdue) and the GPU times that came later; another
  // thread's record may reach the log before the replay it completes (correlation id 9).
  const std::vector<Record> records{late_replay(1000, 5),         late_replay(2000, 6),
                                    late_gpu_time(6, 2500, 7000), late_gpu_time(9, 4400, 9000),
                                    late_replay(4000, 9),         late_gpu_time(5, 1300, 3000),
                                    late_replay(5000, 10)};
  testing::write_file(dir / "process_3.pmlog", testing::log_bytes(header_of(3, kStart), records));
  export_session(dir.path(), out.path());
  const auto rows = csv_cells(out / "cuda_graph_replays.csv");
  ASSERT_EQ(rows.size(), 5u);
  const auto column =
      static_cast<size_t>(std::find(rows[0].begin(), rows[0].end(), "gpu_duration_us") - rows[0].begin());
  ASSERT_LT(column, rows[0].size());
  const std::vector<std::string> want{"3.000", "7.000", "9.000", ""};
  for (size_t i = 0; i < want.size(); ++i) {
    const std::string got = column < rows[i + 1].size() ? rows[i + 1][column] : "";
    EXPECT_EQ(got, want[i]) << "row " << i + 1 << " (in time order)";
  }
  const auto usage = csv_cells(out / "cuda_graph_usage.csv");
  const auto gpu_replays =
      static_cast<size_t>(std::find(usage[0].begin(), usage[0].end(), "gpu_replays") - usage[0].begin());
  ASSERT_EQ(usage.size(), 2u);
  ASSERT_LT(gpu_replays, usage[1].size());
  EXPECT_EQ(usage[1][gpu_replays], "3");
}

Record gpu_record_stats(uint64_t t_ns, uint64_t with_gpu) {
  Record record;
  record.mutable_gpu_record_stats()->set_t_ns(t_ns);
  record.mutable_gpu_record_stats()->set_replays_with_gpu(with_gpu);
  return record;
}

TEST(StreamingExport, TheLatestGpuRecordSnapshotCountsWhereverItsThreadPutItInTheLog) {
  testing::TempDir dir;
  testing::TempDir out;
  // The exit's final snapshot drained before the flush thread's older one.
  const std::vector<Record> records{gpu_record_stats(3000, 90), gpu_record_stats(2000, 70),
                                    gpu_record_stats(1000, 40)};
  testing::write_file(dir / "process_3.pmlog", testing::log_bytes(header_of(3, kStart), records));
  export_session(dir.path(), out.path());
  std::ifstream in(out / "metadata.json");
  const std::string metadata{std::istreambuf_iterator<char>(in), {}};
  EXPECT_NE(metadata.find("\"replays_with_gpu\": 90,"), std::string::npos) << metadata;
}

}  // namespace
}  // namespace profilemate::exporter
