// Helpers shared by the test suites: temporary directories, child processes, file access.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "profilemate.pb.h"

namespace profilemate::testing {

// A fresh directory under the test temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct ChildResult {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
};

// Neither sanitizer of GCC 12 lets a child forked from a multi-threaded process start a thread:
// - ThreadSanitizer: glibc gives the new thread the pthread_t of a parent thread the runtime still
//   counts as alive, and the child dies ("ThreadSanitizer: dup thread with used id");
// - AddressSanitizer does not hold its allocator's locks across fork (compiler-rt does since LLVM
//   18, https://github.com/llvm/llvm-project/pull/75290): a lock that a parent thread held when
//   it forked stays held in the child, and the child's new thread hangs allocating its stack
//   bookkeeping (seen in a CI run, and again under load).
// Tests of that (the recorder's writer restarting after fork) run in the normal build.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadsInMultithreadedForkChildUnsupported = true;
inline constexpr const char* kForkSkipReason =
    "ThreadSanitizer cannot follow threads started in the child of a multi-threaded fork";
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr bool kThreadsInMultithreadedForkChildUnsupported = true;
inline constexpr const char* kForkSkipReason =
    "GCC 12's AddressSanitizer can leave its allocator locked in the child of a multi-threaded fork";
#else
inline constexpr bool kThreadsInMultithreadedForkChildUnsupported = false;
inline constexpr const char* kForkSkipReason = "";
#endif
// Built with a sanitizer: everything runs several times slower and shadow memory inflates the
// resident set, so tests sized for time or memory scale down and skip their memory budgets.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// Runs `body` in a forked child with `env` set (the recorder starts fresh there) and waits.
// The child exits with body's return value through exit(), so at-exit handlers run.
ChildResult run_in_child(const std::map<std::string, std::string>& env, const std::function<int()>& body);

pid_t start_child(const std::map<std::string, std::string>& env, const std::function<int()>& body);
ChildResult wait_child(pid_t pid);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
std::vector<std::string> files_with_suffix(const std::string& dir, const std::string& suffix);

// Every record of a process log, header first, parsed with libprotobuf; fails the test on
// damage.
std::vector<Record> read_records(const std::string& path);

// A record as the writer frames it: varint length, then the encoded Record.
std::string frame(const Record& record);
// A whole log: a header record, then `records`.
std::string log_bytes(const Header& header, const std::vector<Record>& records);
// Where each framed record starts in a log file, and its kind.
struct FramedRecord {
  uint64_t offset = 0;
  uint64_t size = 0;  // prefix included
  Record::EventCase kind = Record::EVENT_NOT_SET;
};
std::vector<FramedRecord> frames_of(const std::string& bytes);
// The same log as the writer writes it compressed: its header (saying so) as it is, then zstd
// frames of `records_per_frame` records each.
std::string compressed_log(const std::string& plain_log, size_t records_per_frame);

// The directory holding the test data that ships with the sources.
std::string source_dir();

// A command line run through the shell, its output captured.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::string& command_line);

// Where two texts first differ, line by line, for golden-file failure messages.
std::string first_difference(const std::string& expected, const std::string& actual);

}  // namespace profilemate::testing
