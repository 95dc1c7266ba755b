// Reads a process log (`*.pmlog`): a header record, then length-delimited `profilemate.Record`s,
// plain or in zstd frames (as the header says), decompressed one frame at a time.
// Damage is survived, never fatal: a torn last record (or frame) is measured and skipped, a
// corrupt record (or frame) in the middle is reported with its byte offset in the file and
// reading resumes at the next readable one.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "graph_replay_wire.h"
#include "profilemate.pb.h"

namespace profilemate::reader {

// A log that cannot be used at all: unreadable, not a ProfileMate log, or too new. The message
// is one line that names the file.
class ReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CorruptSpan {
  uint64_t offset = 0;         // where the unreadable bytes start
  uint64_t skipped_bytes = 0;  // how many were skipped before reading resumed
  std::string reason;
};

struct LogStats {
  std::string path;
  uint64_t file_bytes = 0;
  uint64_t records = 0;          // readable records, header included
  uint64_t unknown_records = 0;  // kinds from a newer writer, skipped
  uint64_t torn_tail_bytes = 0;  // an incomplete last record (process killed mid-write)
  std::vector<CorruptSpan> corrupt;
};

// The record may be moved from: it is reused for the next one.
using RecordVisitor = std::function<void(Record&)>;
// Graph replays as the fast path reads them (graph_replay_wire.h): most of a long log.
using ReplayVisitor = std::function<void(const GraphReplayFields&)>;

// An open file descriptor, closed on destruction.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// Opens `name` relative to the directory `dir_fd` (AT_FDCWD: the current one) for reading, with
// `flags` added (O_NOFOLLOW: refuse a link), without blocking, and checks that it is a regular
// file: a FIFO or a device named *.pmlog would hang or never end, a directory is no log. `path`
// names it in messages; `info` receives its fstat. Throws ReadError saying why not.
FileDescriptor open_regular_file(int dir_fd, const std::string& name, const std::string& path, int flags,
                                 struct stat& info);

// Calls `visit` for every readable record after the header, in file order.
LogStats read_log(const std::string& path, Header& header, const RecordVisitor& visit);
// The same on a file opened with open_regular_file. With `replay`, the graph replays the fast path
// reads go there instead of to `visit` as Records.
LogStats read_log(FileDescriptor file, const std::string& path, Header& header, const RecordVisitor& visit,
                  const ReplayVisitor& replay = {});

// The same on bytes already in memory (`name` is used in messages); for tests and fuzzing.
LogStats read_log_bytes(const uint8_t* data, size_t size, const std::string& name, Header& header,
                        const RecordVisitor& visit, const ReplayVisitor& replay = {});

}  // namespace profilemate::reader
