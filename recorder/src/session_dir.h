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

// What open_dir asks of a path besides a safe walk.
struct DirRules {
  // Where the path came from (an environment variable, an option), for errors: "SETTING=PATH: what
  // is wrong; point SETTING at a directory you own". Empty: just what is wrong.
  std::string_view setting{};
  mode_t create_mode = 0700;     // missing components are made with it; 0: none is made
  bool owned = true;             // the directory itself must be the caller's
  bool own_link_at_end = false;  // the last component may be a link the caller owns
  size_t room = 0;               // bytes the path must leave below PATH_MAX for what goes inside
};

// Opens `path` as a directory, creating missing components as `rules` say. Walks the path one
// component at a time from a directory descriptor (openat, O_NOFOLLOW), so nothing swapped in
// behind a check is followed: the last component must be a real directory (a trailing "/" or
// "/." does not turn a link into one), and a link on the way is followed only when no other user
// can have planted or replaced it (the link and the directory holding it are owned by root or the
// caller, and that directory is not writable by others unless sticky; its target is walked by the
// same rules). On failure: an invalid descriptor and one line in `error` naming rules.setting.
UniqueFd open_dir(const std::string& path, const DirRules& rules, std::string& error);

// A session directory: the caller's own, missing parts made 0700, room left for the session's files.
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
