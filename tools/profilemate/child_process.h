// Runs the profiled command as nsys does: in its own process group, with the signals the user
// sends forwarded to it, an optional time limit, and a wait that lasts until every process it
// started has exited (this process is their subreaper).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace profilemate::cli {

struct ChildOutcome {
  int exit_code = 0;     // the command's exit code, or 128 + the signal that ended it
  bool stopped = false;  // the time limit ended it
  bool started = true;   // false: the command could not be executed (exit_code 127)
  std::string error;     // why it could not be started
};

// Runs `argv` with `environment` (the complete environment). With `duration`, sends SIGINT to the
// command's process group when it is up, SIGTERM 10 s later and SIGKILL 10 s after that.
ChildOutcome run_child(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& environment,
                       std::optional<std::chrono::seconds> duration);

}  // namespace profilemate::cli
