// Creates the session directory and this process's log file safely in a shared parent such as
// /tmp: owner-only permissions, no symlink followed, no directory owned by someone else.
#pragma once

#include <sys/types.h>
#include <string>

#include "unique_fd.h"

namespace profilemate::recorder {

struct SessionLog {
  std::string dir_path;
  std::string session_id;  // the directory's base name
  std::string log_path;
  UniqueFd log_fd;
};

struct SessionLogResult {
  SessionLog log;
  std::string error;  // empty on success; otherwise one line saying what to do
};

// `session_dir` non-empty: join (or create) that directory. Otherwise create a new
// session_<UTC time>_<random> under `profiling_dir`.
SessionLogResult open_session_log(const std::string& session_dir, const std::string& profiling_dir,
                                  pid_t pid);

}  // namespace profilemate::recorder
