// Creates the session directory and this process's log file safely in a shared parent such as
// /tmp: owner-only permissions, no symlink followed, no directory owned by someone else.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

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

// The room a session directory's path leaves below PATH_MAX: a new session's name under a parent,
// then the longest name the recorder and the tools create in a session (logs, CSV files, spills).
inline constexpr size_t kSessionNameRoom = 160;

// Opens `path` as a directory the caller owns, creating missing components with mode 0700.
// Walks the path one component at a time from a directory descriptor (openat, O_NOFOLLOW), so
// nothing swapped in behind a check is followed: the last component must be a real directory
// (a trailing "/" or "/." does not turn a link into one), and a link on the way is followed only
// when no other user can have planted or replaced it (the link and the directory holding it are
// owned by root or the caller, and that directory is not writable by others unless sticky; its
// target is walked by the same rules). Paths too long for the session's files are refused.
// `setting` names where the path came from (an environment variable, an option) for the error.
UniqueFd open_private_dir(const std::string& path, std::string_view setting, std::string& error);

// VLLM_PROFILING_SESSION_ID's longest value: what the log header's session_id holds
// (proto/profilemate.options, max_size 64 with the terminating NUL).
inline constexpr size_t kMaxSessionIdLength = 63;

// Whether `name` can name a session to processes that get only VLLM_ variables (Ray actors,
// headless nodes): one plain name of letters, digits, '.', '_' and '-', not "." or "..", at most
// kMaxSessionIdLength long, so that it makes the same directory on every host and nothing
// outside VLLM_PROFILING_DIR.
bool is_session_id(std::string_view name);

// `session_dir` non-empty: join (or create) that directory. Otherwise create a new
// session_<UTC time>_<random> under `profiling_dir`. `session_setting` names what set
// session_dir, for the error.
SessionLogResult open_session_log(const std::string& session_dir, const std::string& profiling_dir, pid_t pid,
                                  std::string_view session_setting = "PROFILEMATE_SESSION_DIR");

}  // namespace profilemate::recorder
