// The `profilemate` command: dispatches to one file per command.
#include <cstdio>
#include <string>
#include <string_view>

#include "cli.h"
#include "profilemate.pb.h"

namespace {

using namespace profilemate::cli;

constexpr const char* kMainHelp = R"(profilemate: what your vLLM server did, step by step

Usage: profilemate <command> [options]

Commands:
  profile  run a command with ProfileMate (nsys style) and summarise what it recorded
  stats    summary reports of a session: graphs, steps, KV cache, preemptions, MoE, health
  compare  two sessions' reports side by side, with deltas and ratios
  export   convert a session's process logs to CSV files and metadata.json
  dump     print the records of one process log as text
  diagnose what would work here: CUPTI, the injection library, the hooks and vLLM, the output

Run 'profilemate <command> --help' for a command's options and examples.

Options:
  -h, --help     show this help
  --version      print the version

Exit codes:
  0  done (damage that was survived, such as a torn last record, is reported as a warning, and
     so is a *.pmlog that was skipped: empty, unreadable, not a log, a link, another user's)
  1  the session or dump's log cannot be read (not a session, no usable log, a log that is
     unreadable or written by a newer version)
  2  wrong usage
  3  an output file cannot be written
  4  diagnose found a problem
  profile exits with the profiled command's code (127: it could not be started)
)";

}  // namespace

int main(int argc, char** argv) {
  Args args(argv + 1, argv + argc);
  if (args.empty() || is_help(args[0])) {
    std::fputs(kMainHelp, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version") {
    std::printf("profilemate %s (schema %d)\n", PROFILEMATE_VERSION,
                static_cast<int>(profilemate::SCHEMA_VERSION));
    return kExitOk;
  }
  const std::string_view command = args[0];
  args.erase(args.begin());
  if (command == "export") return run_export(args);
  if (command == "dump") return run_dump(args);
  if (command == "stats") return run_stats(args);
  if (command == "compare") return run_compare(args);
  if (command == "profile") return run_profile(args);
  if (command == "diagnose") return run_diagnose(args);
  return usage_error("unknown command '" + std::string(command) + "'", "");
}
