// The recorder through its C ABI, each scenario in a child process so it starts fresh, checked by
// reading the log it left with libprotobuf.
#include "profilemate/recorder.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "pmlog_reader.h"
#include "session_data.h"
#include "test_support.h"

namespace profilemate {
namespace {

using testing::ChildResult;
using testing::files_with_suffix;
using testing::read_records;
using testing::run_in_child;
using testing::TempDir;

std::map<std::string, std::string> session_env(const std::string& session,
                                               const std::string& flush_ms = "200") {
  return {{"PROFILEMATE_SESSION_DIR", session}, {"PROFILEMATE_FLUSH_MS", flush_ms}};
}

int record_replay(uint32_t exec_id, uint64_t sequence) {
  profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
  replay.exec_id = exec_id;
  replay.thread = pm_thread();
  replay.cpu_enter_ns = sequence;
  return pm_record(profilemate_Record_graph_replay_tag, &replay);
}

std::vector<uint64_t> replay_sequences(const std::vector<Record>& records, uint32_t exec_id) {
  std::vector<uint64_t> sequences;
  for (const Record& record : records) {
    if (record.has_graph_replay() && record.graph_replay().exec_id() == exec_id) {
      sequences.push_back(record.graph_replay().cpu_enter_ns());
    }
  }
  return sequences;
}

std::vector<uint64_t> iota(uint64_t count) {
  std::vector<uint64_t> values(count);
  for (uint64_t i = 0; i < count; ++i) values[i] = i;
  return values;
}

ChildResult expect_clean_exit(const ChildResult& result) {
  EXPECT_TRUE(result.exited) << "child died by signal " << result.signal;
  EXPECT_EQ(result.exit_code, 0);
  return result;
}

TEST(Recorder, EventsRecordedThroughTheCAbiReachTheLogAfterAHeaderAndTheirThread) {
  TempDir tmp;
  const std::string session = tmp / "s";
  pid_t child_pid = 0;
  expect_clean_exit(run_in_child(session_env(session), [] {
    if (pm_start() != PM_OK) return 10;
    profilemate_SchedulerStep step = profilemate_SchedulerStep_init_zero;
    step.step = 12;
    step.t_ns = pm_now();
    step.num_seqs = 3;
    step.max_num_seqs = 256;
    step.has_kv_usage_pct = true;
    step.kv_usage_pct = 42.5f;
    if (pm_record(profilemate_Record_scheduler_step_tag, &step) != PM_OK) return 11;
    profilemate_Notice notice = profilemate_Notice_init_zero;
    notice.severity = profilemate_Notice_Severity_DEGRADED;
    pm_copy_string(notice.source, sizeof notice.source, "cupti");
    pm_copy_string(notice.message, sizeof notice.message, "GPU timing off: libcupti not found");
    if (pm_record(profilemate_Record_notice_tag, &notice) != PM_OK) return 12;
    return 0;
  }));
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  const std::vector<Record> records = read_records(logs[0]);
  const Header& header = records[0].header();
  EXPECT_EQ(header.schema_version(), static_cast<uint32_t>(SCHEMA_VERSION));
  EXPECT_EQ(header.session_id(), "s");
  EXPECT_EQ(logs[0], session + "/process_" + std::to_string(header.pid()) + ".pmlog");
  EXPECT_EQ(header.ppid(), static_cast<uint32_t>(::getpid()));
  EXPECT_GT(header.start_realtime_ns(), 0u);
  EXPECT_NE(header.command_line().find("recorder_tests"), std::string::npos) << header.command_line();
  (void)child_pid;

  int thread_info_at = -1;
  int step_at = -1;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].has_thread_info() && thread_info_at < 0) thread_info_at = static_cast<int>(i);
    if (records[i].has_scheduler_step()) {
      step_at = static_cast<int>(i);
      EXPECT_EQ(records[i].scheduler_step().step(), 12u);
      EXPECT_EQ(records[i].scheduler_step().num_seqs(), 3u);
      EXPECT_FLOAT_EQ(records[i].scheduler_step().kv_usage_pct(), 42.5f);
    }
    if (records[i].has_notice()) {
      EXPECT_EQ(records[i].notice().severity(), Notice::DEGRADED);
      EXPECT_EQ(records[i].notice().message(), "GPU timing off: libcupti not found");
    }
  }
  ASSERT_GE(step_at, 0);
  ASSERT_GE(thread_info_at, 0);
  EXPECT_LT(thread_info_at, step_at) << "a thread is announced before its first event";
  EXPECT_EQ(records[thread_info_at].thread_info().tid(), header.pid()) << "the main thread recorded";
  EXPECT_TRUE(records.back().has_clock_sync()) << "a clean stop ends with a clock sync";
}

TEST(Recorder, RejectsUnknownKindsAndIgnoresEventsBeforeStart) {
  TempDir tmp;
  const std::string session = tmp / "s";
  expect_clean_exit(run_in_child(session_env(session), [] {
    profilemate_KvUsage usage = profilemate_KvUsage_init_zero;
    if (pm_record(profilemate_Record_kv_usage_tag, &usage) != PM_INACTIVE) return 10;
    if (pm_active() != 0 || !std::string_view(pm_session_dir()).empty()) return 11;
    if (pm_start() != PM_OK) return 12;
    if (pm_start() != PM_OK) return 17;  // idempotent
    if (pm_record(profilemate_Record_header_tag, &usage) != PM_BAD_KIND) return 13;
    if (pm_record(999, &usage) != PM_BAD_KIND) return 14;
    if (pm_record(profilemate_Record_kv_usage_tag, nullptr) != PM_BAD_KIND) return 15;
    pm_stop();
    if (pm_record(profilemate_Record_kv_usage_tag, &usage) != PM_INACTIVE) return 16;
    return 0;
  }));
}

TEST(Recorder, EightThreadsOfAMillionEventsEachAreCountedExactlyWithDropsAccountedFor) {
  constexpr int kThreads = 8;
  constexpr uint64_t kEvents = 1'000'000;
  TempDir tmp;
  const std::string session = tmp / "s";
  const std::string counts_file = tmp / "counts.txt";
  expect_clean_exit(run_in_child(session_env(session, "50"), [&] {
    if (pm_start() != PM_OK) return 10;
    std::vector<uint64_t> accepted(kThreads);
    std::vector<uint64_t> dropped(kThreads);
    std::vector<uint32_t> index(kThreads);
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        index[t] = pm_thread();
        for (uint64_t i = 0; i < kEvents; ++i) {
          const int status = record_replay(static_cast<uint32_t>(t + 1), i);
          (status == PM_OK ? accepted[t] : dropped[t]) += 1;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    pm_stop();
    std::ofstream out(counts_file);
    for (int t = 0; t < kThreads; ++t) out << index[t] << ' ' << accepted[t] << ' ' << dropped[t] << '\n';
    return 0;
  }));

  std::ifstream in(counts_file);
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  const std::vector<Record> records = read_records(logs[0]);
  std::map<uint32_t, uint64_t> reported_drops;  // by thread index: the last cumulative count
  for (const Record& record : records) {
    if (record.has_dropped_records()) {
      EXPECT_EQ(record.dropped_records().reason(), DroppedRecords::BUFFER_FULL);
      reported_drops[record.dropped_records().thread()] = record.dropped_records().dropped();
    }
  }
  uint64_t total_dropped = 0;
  for (int t = 0; t < kThreads; ++t) {
    uint32_t index = 0;
    uint64_t accepted = 0;
    uint64_t dropped = 0;
    ASSERT_TRUE(in >> index >> accepted >> dropped);
    SCOPED_TRACE("thread " + std::to_string(t));
    EXPECT_EQ(accepted + dropped, kEvents);
    const std::vector<uint64_t> sequences = replay_sequences(records, static_cast<uint32_t>(t + 1));
    EXPECT_EQ(sequences.size(), accepted) << "every accepted event is in the log, once";
    EXPECT_TRUE(std::is_sorted(sequences.begin(), sequences.end())) << "in the order it was recorded";
    EXPECT_EQ(std::adjacent_find(sequences.begin(), sequences.end()), sequences.end()) << "no duplicates";
    EXPECT_EQ(reported_drops[index], dropped) << "the log's drop count matches what pm_record returned";
    total_dropped += dropped;
  }
  // Printed, not asserted: how often the writer fell behind depends on the machine.
  std::printf("dropped %llu of %llu events\n", static_cast<unsigned long long>(total_dropped),
              static_cast<unsigned long long>(kThreads) * kEvents);
}

// Small buffers (1 MiB for 4 threads: 256 KiB each, about 3,600 replays) so that one thread
// outruns its buffer many times over.
std::map<std::string, std::string> small_buffers_env(const std::string& session) {
  std::map<std::string, std::string> env = session_env(session, "50");
  env["PROFILEMATE_BUFFER_MB"] = "2";
  env["PROFILEMATE_MAX_THREADS"] = "4";
  return env;
}

std::map<uint32_t, uint64_t> last_drop_counts(const std::vector<Record>& records,
                                              DroppedRecords::Reason reason) {
  std::map<uint32_t, uint64_t> totals;  // by thread index: the last cumulative count
  for (const Record& record : records) {
    if (record.has_dropped_records() && record.dropped_records().reason() == reason) {
      totals[record.dropped_records().thread()] = record.dropped_records().dropped();
    }
  }
  return totals;
}

TEST(Recorder, AThreadThatWaitsLosesNothingWhenItRecordsFarMoreThanItsBufferHolds) {
  constexpr uint64_t kEvents = 1'000'000;  // about 270 buffers' worth
  TempDir tmp;
  const std::string session = tmp / "s";
  expect_clean_exit(run_in_child(small_buffers_env(session), [] {
    if (pm_start() != PM_OK) return 10;
    if (pm_set_thread_waits(1) != 0) return 11;  // off by default; returns the previous setting
    for (uint64_t i = 0; i < kEvents; ++i) {
      if (record_replay(1, i) != PM_OK) return 12;
    }
    if (pm_set_thread_waits(0) != 1) return 13;
    return 0;
  }));
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  const std::vector<Record> records = read_records(logs[0]);
  EXPECT_EQ(replay_sequences(records, 1), iota(kEvents)) << "every event, once, in order";
  EXPECT_EQ(
      std::count_if(records.begin(), records.end(), [](const Record& r) { return r.has_dropped_records(); }),
      0);
}

// The descriptor of this process's log, found by its inode among /proc/self/fd.
int log_descriptor() {
  struct stat log {};
  if (::stat(pm_log_path(), &log) != 0) return -1;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    struct stat open {};
    if (::fstat(fd, &open) == 0 && open.st_dev == log.st_dev && open.st_ino == log.st_ino) return fd;
  }
  return -1;
}

TEST(Recorder, AStalledDiskCostsAWaitingThreadOneBoundedWaitThenDropsAreCountedAsWaitTimeouts) {
  TempDir tmp;
  const std::string session = tmp / "s";
  const std::string counts_file = tmp / "counts.txt";
  expect_clean_exit(run_in_child(small_buffers_env(session), [&] {
    using Clock = std::chrono::steady_clock;
    if (pm_start() != PM_OK) return 10;
    // The stalled disk: the log's descriptor becomes a pipe that nobody reads, so the writer
    // blocks in write() once the pipe is full. When `unstall` is set, a thread copies everything
    // on to the log file, in order.
    const int log_fd = log_descriptor();
    const int file_fd = ::dup(log_fd);
    int pipe_fds[2];
    if (log_fd < 0 || file_fd < 0 || ::pipe(pipe_fds) != 0 || ::dup2(pipe_fds[1], log_fd) < 0) return 11;
    ::close(pipe_fds[1]);
    struct Disk {
      std::atomic<bool> unstall{false};
      std::atomic<bool> copied{false};
    };
    const auto disk = std::make_shared<Disk>();
    // Detached, and sharing nothing on this stack, so that a failing check can return at once.
    std::thread([disk, from = pipe_fds[0], to = file_fd] {
      while (!disk->unstall.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      char bytes[1 << 16];
      for (ssize_t n = 0; (n = ::read(from, bytes, sizeof bytes)) > 0;) {
        if (::write(to, bytes, static_cast<size_t>(n)) != n) std::abort();
      }
      disk->copied.store(true);
    }).detach();

    pm_set_thread_waits(1);
    uint64_t sequence = 0;
    uint64_t accepted = 0;
    uint64_t dropped = 0;
    const auto record = [&] {
      const bool ok = record_replay(1, sequence++) == PM_OK;
      (ok ? accepted : dropped) += 1;
      return ok;
    };
    // The writer's buffer, the pipe and the thread's buffer fill up; then one wait times out.
    const Clock::time_point began = Clock::now();
    while (record()) {
    }
    const double first_drop_s = std::chrono::duration<double>(Clock::now() - began).count();
    if (first_drop_s < 1.0) return 12;   // it waited (about 1 s) before dropping
    if (first_drop_s > 60.0) return 13;  // and the wait ended
    // While nothing fits, later events are dropped at once: a wait of its own for each of these
    // would take hours (the bound is no speed test, only that).
    const Clock::time_point drops_began = Clock::now();
    for (int i = 0; i < 10'000; ++i) {
      if (record()) return 14;
      if (Clock::now() - drops_began > std::chrono::seconds(20)) return 15;
    }
    // The disk moves again: once an event fits, the thread waits again and loses nothing more.
    disk->unstall.store(true);
    while (!record()) {
    }
    for (int i = 0; i < 100'000; ++i) {
      if (!record()) return 16;
    }
    pm_stop();  // closes the pipe: the copying thread ends
    while (!disk->copied.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::ofstream(counts_file) << accepted << ' ' << dropped;
    return 0;
  }));
  std::ifstream in(counts_file);
  uint64_t accepted = 0;
  uint64_t dropped = 0;
  ASSERT_TRUE(in >> accepted >> dropped);
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  const std::vector<Record> records = read_records(logs[0]);
  EXPECT_EQ(replay_sequences(records, 1).size(), accepted) << "every accepted event reached the file";
  const std::map<uint32_t, uint64_t> timeouts = last_drop_counts(records, DroppedRecords::WAIT_TIMEOUT);
  ASSERT_EQ(timeouts.size(), 1u) << "one thread timed out";
  EXPECT_EQ(timeouts.begin()->second, dropped) << "every drop is counted, as a wait timeout";
  EXPECT_GE(dropped, 10'001u);
  EXPECT_TRUE(last_drop_counts(records, DroppedRecords::BUFFER_FULL).empty())
      << "a waiting thread's drops are wait timeouts, not full buffers";
}

TEST(Recorder, AChildKilledWithSigkillMidStreamLeavesALogWhoseCompleteRecordsAllConvert) {
  TempDir tmp;
  const std::string session = tmp / "s";
  const pid_t child = testing::start_child(session_env(session, "20"), [] {
    if (pm_start() != PM_OK) return 10;
    for (uint64_t i = 0;; ++i) {
      record_replay(1, i);
      if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  const std::string log = session + "/process_" + std::to_string(child) + ".pmlog";
  struct stat st {};
  for (int i = 0; i < 2000 && (::stat(log.c_str(), &st) != 0 || st.st_size < 256L * 1024); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  const ChildResult result = testing::wait_child(child);
  ASSERT_EQ(result.signal, SIGKILL);
  ASSERT_GE(st.st_size, 256L * 1024) << "the child streamed records before it was killed";

  Header header;
  std::vector<uint64_t> sequences;
  const reader::LogStats stats = reader::read_log(log, header, [&](Record& record) {
    if (record.has_graph_replay()) sequences.push_back(record.graph_replay().cpu_enter_ns());
  });
  EXPECT_TRUE(stats.corrupt.empty());
  EXPECT_GT(sequences.size(), 10'000u);
  EXPECT_TRUE(std::is_sorted(sequences.begin(), sequences.end()));
  exporter::SortMemory memory(tmp.path(), SIZE_MAX);
  const exporter::SessionStream stream(session, memory);
  const exporter::SessionTables& data = stream.tables;
  ASSERT_EQ(data.processes.size(), 1u);
  ASSERT_EQ(data.exec_usage.size(), 1u);
  EXPECT_EQ(data.exec_usage.begin()->second.replays, sequences.size()) << "every complete record converts";
}

TEST(Recorder, AForkedChildWritesItsOwnLogAndNeverThePendingEventsOfItsParent) {
  if (testing::kThreadsInMultithreadedForkChildUnsupported) GTEST_SKIP() << testing::kForkSkipReason;
  TempDir tmp;
  const std::string session = tmp / "s";
  // A long flush interval keeps the parent's first events in its buffer when it forks.
  expect_clean_exit(run_in_child(session_env(session, "60000"), [] {
    if (pm_start() != PM_OK) return 10;
    for (uint64_t i = 0; i < 100; ++i) record_replay(1, i);
    const pid_t child = ::fork();
    if (child == 0) {
      for (uint64_t i = 0; i < 10; ++i) record_replay(2, i);
      std::exit(0);
    }
    const ChildResult grandchild = testing::wait_child(child);
    if (!grandchild.exited || grandchild.exit_code != 0) return 11;
    for (uint64_t i = 0; i < 5; ++i) record_replay(3, i);
    return 0;
  }));
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 2u);
  std::vector<std::vector<Record>> by_process;
  by_process.reserve(logs.size());
  for (const std::string& log : logs) by_process.push_back(read_records(log));
  // The parent started first; its child names it as ppid.
  if (by_process[0][0].header().ppid() != static_cast<uint32_t>(::getpid()))
    std::swap(by_process[0], by_process[1]);
  const std::vector<Record>& parent = by_process[0];
  const std::vector<Record>& child = by_process[1];
  EXPECT_EQ(child[0].header().ppid(), parent[0].header().pid());
  EXPECT_EQ(child[0].header().session_id(), parent[0].header().session_id());
  EXPECT_EQ(replay_sequences(parent, 1), iota(100));
  EXPECT_EQ(replay_sequences(parent, 2), std::vector<uint64_t>{});
  EXPECT_EQ(replay_sequences(parent, 3), iota(5));
  EXPECT_EQ(replay_sequences(child, 1), std::vector<uint64_t>{}) << "the child flushed its parent's buffer";
  EXPECT_EQ(replay_sequences(child, 2), iota(10));
}

TEST(Recorder, SigtermFlushesPendingEventsThenTerminatesAsItWouldHave) {
  TempDir tmp;
  const std::string session = tmp / "s";
  const ChildResult result = run_in_child(session_env(session, "60000"), [] {
    if (pm_start() != PM_OK) return 10;
    for (uint64_t i = 0; i < 1000; ++i) record_replay(1, i);
    ::raise(SIGTERM);
    return 20;  // not reached: the default action terminates
  });
  EXPECT_EQ(result.signal, SIGTERM);
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(replay_sequences(read_records(logs[0]), 1), iota(1000));
}

std::atomic<int> g_application_handler_calls{0};

TEST(Recorder, SigintGoesOnToTheHandlerTheApplicationInstalledBefore) {
  TempDir tmp;
  const std::string session = tmp / "s";
  const std::string mid_file = tmp / "records_at_signal.txt";
  expect_clean_exit(run_in_child(session_env(session, "60000"), [&] {
    struct sigaction action {};
    action.sa_handler = [](int) { g_application_handler_calls.fetch_add(1); };
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    if (pm_start() != PM_OK) return 10;
    for (uint64_t i = 0; i < 10; ++i) record_replay(1, i);
    ::raise(SIGINT);
    if (g_application_handler_calls.load() != 1) return 11;
    // What the handler flushed is already in the file, before any stop.
    uint64_t flushed = 0;
    Header header;
    reader::read_log(pm_log_path(), header, [&](Record& record) { flushed += record.has_graph_replay(); });
    std::ofstream(mid_file) << flushed;
    record_replay(1, 10);
    return 0;
  }));
  EXPECT_EQ(testing::read_file(mid_file), "10");
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(replay_sequences(read_records(logs[0]), 1), iota(11)) << "recording went on after the signal";
}

TEST(Recorder, EventsReachTheFileWithinTheFlushIntervalWithoutAnExplicitFlush) {
  TempDir tmp;
  const std::string session = tmp / "s";
  expect_clean_exit(run_in_child(session_env(session, "50"), [] {
    if (pm_start() != PM_OK) return 10;
    record_replay(1, 0);
    // Poll the file, far longer than the interval so a loaded machine does not fail the test.
    for (int waited_ms = 0; waited_ms < 5000; waited_ms += 10) {
      uint64_t replays = 0;
      Header header;
      reader::read_log(pm_log_path(), header, [&](Record& record) { replays += record.has_graph_replay(); });
      if (replays == 1) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 11;
  }));
}

TEST(Recorder, TellsTheFlushIntervalItAcceptedToThePartsThatFlushOnTheirOwn) {
  TempDir tmp;
  // The injection library's CUPTI flush takes its interval from pm_flush_interval_ms: one reading
  // of PROFILEMATE_FLUSH_MS, with the recorder's range, for both.
  for (const auto& [setting, expected] : {std::pair{"50", 50}, {"5", 200}, {"60001", 200}, {"1e3", 200}}) {
    const std::string session = tmp / (std::string("s") + setting);
    const ChildResult result = run_in_child(session_env(session, setting), [want = expected] {
      if (pm_start() != PM_OK) return 10;
      return pm_flush_interval_ms() == static_cast<uint32_t>(want) ? 0 : 11;
    });
    EXPECT_TRUE(result.exited && result.exit_code == 0)
        << "PROFILEMATE_FLUSH_MS=" << setting << ": exit " << result.exit_code << " (11: not " << expected
        << " ms)";
  }
}

void record_at_exit() {
  pm_flush(1000);  // the writer has now seen this thread's buffer released by the teardown
  record_replay(7, 0);
}

TEST(Recorder, EventsRecordedByTheMainThreadFromAnExitHandlerAreWritten) {
  TempDir tmp;
  const std::string session = tmp / "s";
  expect_clean_exit(run_in_child(session_env(session), [] {
    if (pm_start() != PM_OK) return 10;
    record_replay(7, 1);          // binds the main thread's buffer before exit tears its thread_locals down
    std::atexit(record_at_exit);  // runs before the recorder's own exit handler, after the teardown
    return 0;
  }));
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(replay_sequences(read_records(logs[0]), 7), (std::vector<uint64_t>{1, 0}));
}

TEST(Recorder, StopsAtTheLogSizeLimitWithANoticeInsteadOfFillingTheDisk) {
  TempDir tmp;
  const std::string session = tmp / "s";
  auto env = session_env(session, "20");
  env["PROFILEMATE_MAX_LOG_MB"] = "1";
  env["PROFILEMATE_COMPRESSION"] = "none";  // compressed, these replays would not reach the limit
  expect_clean_exit(run_in_child(env, [] {
    if (pm_start() != PM_OK) return 10;
    // About 3 MiB of replays, paced so that the writer keeps up.
    for (uint64_t i = 0; i < 100'000; ++i) {
      if (record_replay(1, i) == PM_DROPPED) return 11;
      if (i % 1000 == 999) pm_flush(5000);
    }
    return 0;
  }));
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  const std::string bytes = testing::read_file(logs[0]);
  EXPECT_LE(bytes.size(), (1u << 20) + 256) << "the limit plus one closing notice";
  EXPECT_GT(bytes.size(), (1u << 20) / 2);
  const std::vector<Record> records = read_records(logs[0]);
  ASSERT_TRUE(records.back().has_notice()) << records.back().ShortDebugString();
  EXPECT_EQ(records.back().notice().severity(), Notice::DEGRADED);
  EXPECT_NE(records.back().notice().message().find("PROFILEMATE_MAX_LOG_MB=1"), std::string::npos);
  const std::vector<uint64_t> sequences = replay_sequences(records, 1);
  EXPECT_EQ(sequences, iota(sequences.size())) << "what was written is a gap-free prefix";
}

TEST(Recorder, AnUnusableSessionDirectoryTurnsRecordingOffAndTheApplicationGoesOn) {
  TempDir tmp;
  const std::string target = tmp / "target";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  const std::string planted = tmp / "planted";
  ASSERT_EQ(::symlink(target.c_str(), planted.c_str()), 0);
  expect_clean_exit(run_in_child(session_env(planted), [] {
    if (pm_start() != PM_START_FAILED) return 10;
    if (pm_active() != 0) return 11;
    if (record_replay(1, 0) != PM_INACTIVE) return 12;
    if (pm_start() != PM_START_FAILED) return 13;  // and stays off
    return 0;
  }));
  EXPECT_TRUE(files_with_suffix(target, ".pmlog").empty());
}

TEST(Recorder, ThreadsBeyondTheLimitAreDroppedAndCountedAndExitedThreadsFreeTheirBuffer) {
  TempDir tmp;
  const std::string session = tmp / "s";
  auto env = session_env(session, "50");
  env["PROFILEMATE_MAX_THREADS"] = "2";
  expect_clean_exit(run_in_child(env, [] {
    if (pm_start() != PM_OK) return 10;
    record_replay(100, 0);  // the main thread takes one buffer
    std::barrier both(2);
    std::atomic<int> overflow_status{-100};
    std::thread holder([&] {
      record_replay(101, 0);  // takes the other
      both.arrive_and_wait();
      both.arrive_and_wait();
    });
    std::thread overflow([&] {
      both.arrive_and_wait();
      overflow_status = record_replay(102, 0);  // none left
      both.arrive_and_wait();
    });
    holder.join();
    overflow.join();
    if (overflow_status != PM_DROPPED) return 11;
    if (pm_flush(5000) != PM_OK) return 12;  // the writer recycles the exited threads' buffers
    int late_status = -100;
    std::thread late([&] { late_status = record_replay(103, 0); });
    late.join();
    return late_status == PM_OK ? 0 : 13;
  }));
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  const std::vector<Record> records = read_records(logs[0]);
  uint64_t no_buffer_drops = 0;
  std::set<uint32_t> announced;
  for (const Record& record : records) {
    if (record.has_dropped_records() &&
        record.dropped_records().reason() == DroppedRecords::NO_THREAD_BUFFER) {
      no_buffer_drops = record.dropped_records().dropped();
    }
    if (record.has_thread_info()) announced.insert(record.thread_info().thread());
  }
  EXPECT_EQ(no_buffer_drops, 1u);
  EXPECT_EQ(replay_sequences(records, 101).size(), 1u);
  EXPECT_EQ(replay_sequences(records, 102).size(), 0u);
  EXPECT_EQ(replay_sequences(records, 103).size(), 1u) << "a late thread reuses a freed buffer";
  EXPECT_EQ(announced.size(), 3u) << "main, holder and the late thread, each with its own index";
}

// Resident memory of this process (VmRSS), in bytes.
uint64_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6)) << 10;
  }
  return 0;
}

// How much resident memory 1000 threads that each record until their buffer is full add, with
// the recorder on or off; written to `out` by a child process.
int grow_with_a_thousand_recording_threads(bool recording, const std::string& out) {
  constexpr int kThreads = 1000;
  if (recording && pm_start() != PM_OK) return 10;
  const uint64_t before = resident_bytes();
  std::barrier all(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&all, t] {
      for (uint64_t i = 0; i < 2000; ++i) record_replay(static_cast<uint32_t>(t), i);  // 64 KiB and more
      all.arrive_and_wait();  // every thread holds its buffer at once
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::ofstream(out) << resident_bytes() - before;
  return 0;
}

TEST(Recorder, AThousandThreadsStayWithinTheBufferBudget) {
  if (testing::kSanitized) GTEST_SKIP() << "shadow memory inflates the resident set";
  TempDir tmp;
  auto env = session_env(tmp / "s");
  env["PROFILEMATE_BUFFER_MB"] = "2";
  env["PROFILEMATE_MAX_THREADS"] = "1024";
  const std::string with = tmp / "with";
  const std::string without = tmp / "without";
  expect_clean_exit(run_in_child(env, [&] { return grow_with_a_thousand_recording_threads(true, with); }));
  expect_clean_exit(
      run_in_child(env, [&] { return grow_with_a_thousand_recording_threads(false, without); }));
  const int64_t extra = std::stoll(testing::read_file(with)) - std::stoll(testing::read_file(without));
  // The budget, plus what the writer's compression needs beside its buffer (the compressed frame
  // and zstd's context: about 2 MiB at level 1).
  constexpr int64_t kWriterCompression = 3 << 20;
  EXPECT_LE(extra, (2 << 20) + kWriterCompression)
      << "resident memory beyond PROFILEMATE_BUFFER_MB=2 with 1000 recording threads: " << (extra >> 10)
      << " KiB";
}

TEST(Recorder, AFullDiskEndsTheLogWithANoticeSayingSo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs that fills up";
  TempDir tmp;
  const std::string disk = tmp / "disk";
  ASSERT_EQ(::mkdir(disk.c_str(), 0700), 0);
  if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=256k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  const std::unique_ptr<const std::string, void (*)(const std::string*)> unmount(
      &disk, [](const std::string* path) { ::umount2(path->c_str(), MNT_DETACH); });
  const std::string session = disk + "/s";
  auto env = session_env(session, "20");
  env["PROFILEMATE_COMPRESSION"] = "none";
  expect_clean_exit(run_in_child(env, [] {
    if (pm_start() != PM_OK) return 10;
    for (uint64_t i = 0; i < 100'000; ++i) {  // about 3 MiB of replays
      record_replay(1, i);
      if (i % 1000 == 999) pm_flush(5000);
    }
    return 0;
  }));
  const std::vector<std::string> logs = files_with_suffix(session, ".pmlog");
  ASSERT_EQ(logs.size(), 1u);
  const std::vector<Record> records = read_records(logs[0]);
  ASSERT_FALSE(records.empty());
  ASSERT_TRUE(records.back().has_notice())
      << "the log ends without saying why: " << records.back().ShortDebugString();
  EXPECT_EQ(records.back().notice().severity(), Notice::DEGRADED);
  EXPECT_TRUE(records.back().notice().message().starts_with("cut short: disk full"))
      << records.back().notice().message();
  const std::vector<uint64_t> sequences = replay_sequences(records, 1);
  EXPECT_FALSE(sequences.empty());
  EXPECT_EQ(sequences, iota(sequences.size())) << "what was written is a gap-free prefix";
}

}  // namespace
}  // namespace profilemate
