// Runs the profiled command as nsys does: in its own process group, with the signals the user
// sends forwarded to it (a repeated Ctrl-C escalates), an optional time limit, and a wait for the
// processes it leaves behind (this process is their subreaper) that is bounded: a while for those
// still in its process group, a short grace for those that left it (daemons).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace profilemate::cli {

struct ChildOutcome {
  int exit_code = 0;     // the command's exit code, or 128 + the signal that ended it
  int signal = 0;        // the signal that ended it, or 0
  bool stopped = false;  // the time limit ended it
  bool started = true;   // false: the command could not be executed (exit_code 127)
  std::string error;     // why it could not be started
};

// Runs `argv` with `environment` (the complete environment). With `duration`, sends SIGINT to the
// command's process group when it is up, SIGTERM 10 s later and SIGKILL 10 s after that.
ChildOutcome run_child(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& environment,
                       std::optional<std::chrono::seconds> duration);

// "SIGKILL" for SIGKILL; "signal 40" for one without a name.
std::string signal_name(int sig);

}  // namespace profilemate::cli
