// The converter against hostile and careless input (issue 11): links and other users' files
// planted in a session, bad files among good logs, FIFOs, holes, long paths, copies of a log,
// formulas and terminal escapes in application strings.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "csv_writer.h"
#include "parquet_file.h"
#include "pmlog_reader.h"
#include "printable.h"
#include "report_table.h"
#include "test_support.h"

namespace profilemate {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

CommandResult run_cli(const std::string& args) {
  return testing::run_command(std::string(PROFILEMATE_CLI) + " " + args);
}

std::string golden_session() {
  return testing::source_dir() + "/golden/synthetic/session";
}

std::string copy_golden(const TempDir& dir) {
  std::string session = dir / "session";
  fs::copy(golden_session(), session);
  return session;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

mode_t mode_of(const std::string& path) {
  struct stat info {};
  EXPECT_EQ(::lstat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

// Item 1: links and hard links planted under the output names are replaced, never written through.
TEST(HostileExport, NeverWritesThroughALinkOrTruncatesAFilePlantedUnderAnOutputName) {
  TempDir dir;
  const std::string session = copy_golden(dir);
  const std::string victim = dir / "victim";
  const std::string linked_victim = dir / "linked_victim";
  write_file(victim, "precious\n");
  write_file(linked_victim, "precious too\n");
  fs::create_symlink(victim, session + "/metadata.json");
  fs::create_symlink(victim, session + "/cuda_graph_usage.csv");
  fs::create_symlink(victim, session + "/trace.perfetto-trace");
  fs::create_hard_link(linked_victim, session + "/kv_cache_usage.csv");

  const CommandResult csv = run_cli("export " + session);
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  const CommandResult trace = run_cli("export " + session + " --type perfetto");
  ASSERT_EQ(trace.exit_code, 0) << trace.err;

  EXPECT_EQ(read_file(victim), "precious\n") << "an export wrote through a planted symbolic link";
  EXPECT_EQ(read_file(linked_victim), "precious too\n") << "an export truncated a hard-linked file";
  for (const char* name :
       {"metadata.json", "cuda_graph_usage.csv", "trace.perfetto-trace", "kv_cache_usage.csv"}) {
    EXPECT_FALSE(fs::is_symlink(session + "/" + name)) << name << " is still the planted link";
    EXPECT_GT(fs::file_size(session + "/" + name), 9u) << name << " was not written";
  }
}

// Item 1, for the reports: `stats -o` and `compare -o` replace a link planted under the name.
TEST(HostileExport, ReportsWrittenWithDashONeverGoThroughALink) {
  TempDir dir;
  const std::string victim = dir / "victim";
  write_file(victim, "precious\n");
  fs::create_symlink(victim, dir / "stats.txt");
  fs::create_symlink(victim, dir / "compare.txt");
  const CommandResult stats = run_cli("stats " + golden_session() + " -o " + (dir / "stats.txt"));
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const CommandResult compare =
      run_cli("compare " + golden_session() + " " + golden_session() + " -o " + (dir / "compare.txt"));
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_EQ(read_file(victim), "precious\n") << "a report was written through a planted symbolic link";
  for (const char* name : {"stats.txt", "compare.txt"}) {
    EXPECT_FALSE(fs::is_symlink(dir / name)) << name << " is still the planted link";
    EXPECT_GT(fs::file_size(dir / name), 100u) << name << " was not written";
  }
}

// A directory `target` and a link to it at `link` that belongs to another user (uid 65534).
void plant_foreign_link(const std::string& target, const std::string& link) {
  fs::create_directory(target);
  fs::create_symlink(target, link);
  ASSERT_EQ(::lchown(link.c_str(), 65534, 65534), 0) << link;
}

// Item 1: the output directory itself, a link another user planted, is refused.
TEST(HostileExport, RefusesAnOutputDirectoryThatIsAnotherUsersLink) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to own a link as another user (uid 65534)";
  TempDir dir;
  const std::string target = dir / "target";
  const std::string link = dir / "out";
  ASSERT_NO_FATAL_FAILURE(plant_foreign_link(target, link));
  const CommandResult result = run_cli("export " + golden_session() + " -o " + link);
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(contains(result.err, "symbolic link owned by uid 65534")) << result.err;
  EXPECT_TRUE(fs::is_empty(target)) << "wrote into the target of another user's link";
}

// Item 1: a link another user planted on the way to the output directory is not followed.
TEST(HostileExport, RefusesALinkAnotherUserPlantedOnTheWayToTheOutput) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to own a link as another user (uid 65534)";
  TempDir dir;
  const std::string target = dir / "target";
  const std::string link = dir / "theirs";
  ASSERT_NO_FATAL_FAILURE(plant_foreign_link(target, link));
  const CommandResult result = run_cli("export " + golden_session() + " -o " + link + "/out");
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(contains(result.err, "that another user could have planted")) << result.err;
  EXPECT_TRUE(fs::is_empty(target)) << "wrote into the target of another user's link";
}

// Item 1, Parquet: root exports a user's session, in which the user planted a link in place of a
// dataset directory (table, session=, hostname=): it is refused and its target stays untouched.
TEST(HostileExport, ParquetNeverWritesThroughALinkPlantedAsADatasetDirectory) {
  if (!exporter::parquet_supported()) GTEST_SKIP() << exporter::parquet_unsupported_reason();
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the session and the link to another user";
  TempDir dir;
  const std::string session = copy_golden(dir);
  const std::string victim = dir / "victim";
  ASSERT_NO_FATAL_FAILURE(plant_foreign_link(victim, session + "/cuda_graph_usage"));
  ASSERT_EQ(::chown(session.c_str(), 65534, 65534), 0);
  const CommandResult result = run_cli("export " + session + " --type parquet");
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(
      contains(result.err, "cuda_graph_usage is a symbolic link that another user could have planted"))
      << result.err;
  EXPECT_TRUE(fs::is_empty(victim)) << "a Parquet file was written through a planted link";
}

// Item 9b: a write that fails part-way (here: the file size limit, as a full disk would) leaves
// the previous complete file and no partial or temporary one.
TEST(HostileExport, AFailedWriteLeavesThePreviousFileAndNoPartialOne) {
  TempDir dir;
  const std::string out = dir / "out";
  fs::create_directory(out);
  write_file(out + "/cuda_graph_replays.csv", "previous\n");
  // cuda_graph_replays.csv is 6.7 KB: past a limit of 8 blocks (4 KB in sh's 512-byte blocks).
  const CommandResult result =
      testing::run_command("trap '' XFSZ; ulimit -f 8; " + std::string(PROFILEMATE_CLI) + " export " +
                           golden_session() + " -o " + out);
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_TRUE(contains(result.err, "cuda_graph_replays.csv: File too large")) << result.err;
  EXPECT_EQ(read_file(out + "/cuda_graph_replays.csv"), "previous\n") << "the previous output was lost";
  for (const fs::directory_entry& entry : fs::directory_iterator(out)) {
    EXPECT_GT(entry.file_size(), 0u) << entry.path() << ": an empty output left behind";
    EXPECT_FALSE(contains(entry.path().filename().string(), ".partial")) << entry.path() << " left behind";
  }
}

// Item 11: a private session's outputs are private.
TEST(HostileExport, OutputsFollowTheSessionDirectorysMode) {
  TempDir dir;
  const std::string session = copy_golden(dir);
  ASSERT_EQ(::chmod(session.c_str(), 0700), 0);
  const std::string out = dir / "new/out";
  ASSERT_EQ(run_cli("export " + session + " -o " + out).exit_code, 0);
  EXPECT_EQ(mode_of(out), 0700u) << "a new output directory of a 0700 session";
  EXPECT_EQ(mode_of(out + "/metadata.json"), 0600u) << "metadata.json (command lines) of a 0700 session";
  EXPECT_EQ(mode_of(out + "/cuda_graph_replays.csv"), 0600u);
  ASSERT_EQ(run_cli("export " + session + " --type perfetto").exit_code, 0);
  EXPECT_EQ(mode_of(session + "/trace.perfetto-trace"), 0600u) << "the trace written into a 0700 session";
}

// Items 5, 6: every bad file among the logs is skipped with a warning naming it and why; the rest
// is converted and the exit code is 0.
TEST(HostileExport, BadFilesAmongTheLogsAreSkippedWithAWarningAndTheRestConverted) {
  TempDir dir;
  const std::string session = copy_golden(dir);
  TempDir reference;
  ASSERT_EQ(run_cli("export " + golden_session() + " -o " + reference.path()).exit_code, 0);
  write_file(session + "/process_1.pmlog", "");
  write_file(session + "/process_2.pmlog", "not a log at all\n");
  ASSERT_EQ(::mkfifo((session + "/process_3.pmlog").c_str(), 0600), 0);
  fs::create_symlink(golden_session() + "/process_20288.pmlog", session + "/process_4.pmlog");
  fs::create_directory(session + "/process_5.pmlog");
  write_file(session + "/process_6.pmlog", read_file(golden_session() + "/process_20288.pmlog"));
  ASSERT_EQ(::chmod((session + "/process_6.pmlog").c_str(), 0), 0);
  const bool unreadable = ::geteuid() != 0;  // root reads a 0000 file anyway

  const CommandResult result = run_cli("export " + session + " -o " + (dir / "out"));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.err, "process_1.pmlog: empty (0 bytes)")) << result.err;
  EXPECT_TRUE(contains(result.err, "process_2.pmlog: not a ProfileMate process log")) << result.err;
  EXPECT_TRUE(contains(result.err, "process_3.pmlog: a FIFO")) << result.err;
  EXPECT_TRUE(contains(result.err, "process_4.pmlog: a symbolic link")) << result.err;
  EXPECT_TRUE(contains(result.err, "process_5.pmlog: a directory")) << result.err;
  if (unreadable) {
    EXPECT_TRUE(contains(result.err, "process_6.pmlog: Permission denied")) << result.err;
  }
  if (!unreadable) {
    EXPECT_EQ(read_file(dir / "out/cuda_graph_replays.csv"), read_file(reference / "cuda_graph_replays.csv"))
        << "the good logs were not converted as without the bad files";
  }
  for (const char* command : {"stats ", "compare "}) {
    const std::string second = std::string(command) == "compare " ? " " + golden_session() : "";
    const CommandResult other = run_cli(std::string(command).append(session).append(second));
    EXPECT_EQ(other.exit_code, 0) << command << other.err;
    EXPECT_TRUE(contains(other.err, "warning: " + session + "/process_3.pmlog: a FIFO"))
        << command << other.err;
  }
}

TEST(HostileExport, ASessionWithNoUsableLogFailsNamingWhy) {
  TempDir dir;
  write_file(dir / "process_1.pmlog", "");
  const CommandResult result = run_cli("export " + dir.path());
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_TRUE(contains(result.err, dir.path() + " holds no usable process log")) << result.err;
  EXPECT_TRUE(contains(result.err, "empty (0 bytes)")) << result.err;
}

// Item 5: another user's log in a session is not read; the directory owner's and the caller's are.
TEST(HostileExport, ALogOwnedByNeitherTheSessionOwnerNorTheCallerIsSkipped) {
  if (::geteuid() != 0 || ::access("/usr/bin/setpriv", X_OK) != 0)
    GTEST_SKIP() << "needs root and setpriv to act as two unprivileged users (uids 65534, 65533)";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  const std::string session = copy_golden(dir);
  // The session is nobody's (65534); root runs the export.
  fs::copy_file(session + "/process_20288.pmlog", session + "/process_7.pmlog");
  for (const std::string name : {"", "/process_20288.pmlog", "/process_20290.pmlog"})
    ASSERT_EQ(::chown((session + name).c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chown((session + "/process_7.pmlog").c_str(), 65533, 65533), 0);
  const std::string out = dir / "out";
  const CommandResult as_root = run_cli("export " + session + " -o " + out);
  EXPECT_EQ(as_root.exit_code, 0) << as_root.err;
  EXPECT_TRUE(contains(as_root.err, "process_7.pmlog: owned by uid 65533")) << as_root.err;
  EXPECT_TRUE(contains(as_root.out, "from 2 process log(s)")) << as_root.out;
  // The caller's own log is read: 65533 reads process_7 in nobody's session.
  ASSERT_EQ(::chmod(out.c_str(), 0777), 0);
  const CommandResult as_other = testing::run_command("setpriv --reuid=65533 --regid=65533 --clear-groups " +
                                                      std::string(PROFILEMATE_CLI) + " stats " + session);
  EXPECT_EQ(as_other.exit_code, 0) << as_other.err;
  EXPECT_FALSE(contains(as_other.err, "process_7.pmlog: "))
      << "the caller's own log was skipped: " << as_other.err;
  EXPECT_TRUE(contains(as_other.err, "copies of one log"))
      << "process_7 (a copy) was not read: " << as_other.err;
}

// Item 13.
TEST(HostileDump, AFifoOrADirectoryIsRefusedAtOnceNamingWhatItIs) {
  TempDir dir;
  const std::string fifo = dir / "process_1.pmlog";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // `timeout` turns a hang into exit 124 instead of a stuck test.
  const CommandResult on_fifo =
      testing::run_command("timeout 20 " + std::string(PROFILEMATE_CLI) + " dump " + fifo);
  EXPECT_EQ(on_fifo.exit_code, 1) << "124: dump blocked on the FIFO; " << on_fifo.err;
  EXPECT_TRUE(contains(on_fifo.err, fifo + ": a FIFO")) << on_fifo.err;
  const CommandResult on_dir = run_cli("dump " + dir.path());
  EXPECT_EQ(on_dir.exit_code, 1);
  EXPECT_TRUE(contains(on_dir.err, dir.path() + ": a directory, not a process log")) << on_dir.err;
}

// Item 14: a hole (a sparse file) is read with bounded memory, and the records after it are found.
TEST(HostileReader, AGigabyteHoleAfterTheHeaderIsReadWithBoundedMemory) {
  if (testing::kSanitized) GTEST_SKIP() << "shadow memory inflates the resident set under a sanitizer";
  TempDir dir;
  const std::vector<Record> records = testing::read_records(golden_session() + "/process_20290.pmlog");
  const std::string header = testing::frame(records[0]);
  std::string tail;
  for (size_t i = 1; i < records.size(); ++i) tail += testing::frame(records[i]);
  const std::string path = dir / "process_1.pmlog";
  constexpr off_t kHole = off_t{1} << 30;
  {
    std::ofstream file(path, std::ios::binary);
    file << header;
    file.seekp(static_cast<std::streamoff>(header.size()) + kHole);
    file << tail;
  }
  const testing::ChildResult child = testing::run_in_child({}, [&] {
    Header parsed;
    const reader::LogStats stats = reader::read_log(path, parsed, [](Record&) {});
    std::ifstream status("/proc/self/status");
    long peak_kb = 0;
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("VmHWM:")) peak_kb = std::stol(line.substr(6));
    std::printf("peak resident %ld kB, %llu records\n", peak_kb,
                static_cast<unsigned long long>(stats.records));
    if (stats.records != records.size()) return 2;  // the records after the hole were lost
    return peak_kb < 200L * 1024 ? 0 : 1;
  });
  EXPECT_EQ(child.exit_code, 0) << "1: resident memory grew to 200 MB or more (the hole stayed mapped); "
                                   "2: the records after the hole were not all read";
}

// Item 15b.
TEST(HostileExport, ASessionWhosePathIsNearPathMaxIsRead) {
  TempDir dir;
  std::string cd = "cd " + dir.path();
  std::string path = dir.path();
  for (int i = 0; i < 15; ++i) {
    const std::string component(255, static_cast<char>('a' + i));
    cd.append(" && mkdir ").append(component).append(" && cd ").append(component);
    path += "/" + component;
  }
  // The directory's own path stays under PATH_MAX (4096), its logs' paths go past it.
  const std::string last(4080 - path.size(), 'z');
  cd += " && mkdir " + last + " && cd " + last;
  path += "/" + last;
  ASSERT_EQ(testing::run_command(cd + " && cp " + golden_session() + "/*.pmlog .").exit_code, 0);
  ASSERT_GT(path.size() + std::string("/process_20288.pmlog").size(), size_t{PATH_MAX});
  const CommandResult stats = run_cli("stats " + path + " --report health");
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  const CommandResult exported = run_cli("export " + path);
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_TRUE(contains(exported.out, "from 2 process log(s)")) << exported.out;
}

// Item 16.
TEST(HostileExport, CopiesOfOneProcessLogAreNamedInAWarning) {
  TempDir dir;
  const std::string session = copy_golden(dir);
  for (int i = 0; i < 200; ++i)
    fs::copy_file(session + "/process_20290.pmlog",
                  session + "/process_20290_copy" + std::to_string(i) + ".pmlog");
  const CommandResult result = run_cli("export " + session);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.err, "process_20290.pmlog and 200 other log(s)")) << result.err;
  EXPECT_TRUE(contains(result.err, "pid 20290")) << result.err;
}

// Item 10.
TEST(HostileExport, ALogCutAtItsSizeLimitIsAWarning) {
  TempDir dir;
  std::vector<Record> records = testing::read_records(golden_session() + "/process_20290.pmlog");
  Record notice;
  notice.mutable_notice()->set_severity(Notice::DEGRADED);
  notice.mutable_notice()->set_source("recorder");
  notice.mutable_notice()->set_message(
      "the log reached its size limit (PROFILEMATE_MAX_LOG_MB=1): nothing after");
  records.push_back(notice);
  write_file(
      dir / "process_1.pmlog",
      testing::log_bytes(records[0].header(), std::vector<Record>(records.begin() + 1, records.end())));
  const CommandResult result = run_cli("export " + dir.path());
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.err, "warning: " + (dir / "process_1.pmlog") +
                                       ": the log reached its size limit (PROFILEMATE_MAX_LOG_MB=1)"))
      << result.err;
}

// Item 7.
TEST(HostileText, CsvTextCellsThatWouldRunAsFormulasGetAQuote) {
  TempDir dir;
  exporter::CsvWriter out(dir / "t.csv", {"a", "b", "c", "d", "e", "f", "g"});
  out.text("=HYPERLINK(\"x\")")
      .text("+1")
      .text("-2")
      .text("@SUM(A1)")
      .text("\tx")
      .text("ok-=")
      .signed_integer(-3);
  out.end_row();
  out.close();
  EXPECT_EQ(read_file(dir / "t.csv"),
            "a,b,c,d,e,f,g\n"
            "\"'=HYPERLINK(\"\"x\"\")\",'+1,'-2,'@SUM(A1),'\tx,ok-=,-3\n");
}

TEST(HostileText, StatsTablesAndCsvEscapeControlCharactersAndGuardFormulas) {
  stats::Table table{"t", "title", {"key", "value"}, 1, {}, {"note \x1b]0;owned\x07"}};
  table.rows.push_back({stats::Cell::text("\x1b[2Jreq"), stats::Cell::integer(-4)});
  table.rows.push_back({stats::Cell::text("=cmd|' /C calc'!A0"), stats::Cell::number(-1.5, 1)});
  const std::string text = stats::render_text(table);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_TRUE(contains(text, "\\033[2Jreq")) << text;
  EXPECT_TRUE(contains(text, "note \\033]0;owned\\007")) << text;
  EXPECT_EQ(stats::render_csv(table), "key,value\n\\033[2Jreq,-4\n'=cmd|' /C calc'!A0,-1.5\n");
  EXPECT_EQ(reader::printable("a\nb\tc\rd\x7f"), "a\\nb\\tc\\rd\\177");
}

}  // namespace
}  // namespace profilemate
