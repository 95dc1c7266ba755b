// Finds the process logs of a session directory and opens them, trusting only what the
// session's owner (or the caller) wrote there.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "pmlog_reader.h"

namespace profilemate::reader {

// A session directory, opened once: its logs are opened relative to it, so a session whose path
// is near PATH_MAX is still read, and a log replaced by a link after the listing is still refused.
class SessionDir {
 public:
  // Throws ReadError when `path` is not a readable directory or holds no *.pmlog entry.
  explicit SessionDir(std::string path);

  [[nodiscard]] const std::string& path() const { return path_; }
  // The names of the *.pmlog entries, whatever they are, sorted.
  [[nodiscard]] const std::vector<std::string>& log_names() const { return names_; }
  [[nodiscard]] std::string path_of(const std::string& name) const { return path_ + "/" + name; }

  // Opens the log `name`: a regular file, not a link, owned by the directory's owner or by the
  // caller (another user's log planted in a session one can write to is not read). Throws
  // ReadError naming the file and why it cannot be used.
  [[nodiscard]] FileDescriptor open_log(const std::string& name) const;

 private:
  std::string path_;
  FileDescriptor dir_;
  uid_t owner_ = 0;
  std::vector<std::string> names_;
};

// The paths of the `*.pmlog` entries directly in `dir`, sorted by name. Throws ReadError when
// `dir` is not a readable directory or holds no process log.
std::vector<std::string> session_log_files(const std::string& dir);

// The same, but empty (never an error) when `dir` is missing, unreadable or holds no log.
std::vector<std::string> session_log_files_or_empty(const std::string& dir);

}  // namespace profilemate::reader
