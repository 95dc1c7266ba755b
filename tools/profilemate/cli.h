// What every `profilemate` command shares: exit codes, help detection, usage errors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace profilemate::cli {

// Exit codes, documented in `profilemate --help` and the README.
constexpr int kExitOk = 0;
constexpr int kExitUnreadable = 1;
constexpr int kExitUsage = 2;
constexpr int kExitOutput = 3;
constexpr int kExitProblem = 4;  // diagnose found something that would not work

using Args = std::vector<std::string_view>;

inline bool is_help(std::string_view arg) {
  return arg == "-h" || arg == "--help";
}

// Prints "profilemate: MESSAGE" and where the command's help is; returns kExitUsage.
int usage_error(const std::string& message, std::string_view command);

// "warning: ..." on stderr for each, control characters escaped (they name files and quote logs).
void print_warnings(const std::vector<std::string>& warnings);
// "profilemate: MESSAGE" on stderr, control characters escaped.
void print_error(const std::string& message);

// Writes `text` to `path` (standard output when empty), saying where on stderr.
int write_output(const std::string& text, const std::string& path);

int run_export(const Args& args);
int run_dump(const Args& args);
int run_stats(const Args& args);
int run_compare(const Args& args);
int run_profile(const Args& args);
int run_diagnose(const Args& args);

}  // namespace profilemate::cli
