// `profilemate profile`: runs a command with ProfileMate injected, nsys style, then exports the
// session and prints a short summary.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "child_process.h"
#include "cli.h"
#include "export_session.h"
#include "install_paths.h"
#include "pmlog_reader.h"
#include "report_table.h"
#include "session_data.h"
#include "session_dir.h"
#include "session_files.h"
#include "session_reports.h"

namespace profilemate::cli {
namespace {

constexpr const char* kProfileHelp = R"(Usage: profilemate profile [options] [--] COMMAND [ARGS...]

Runs COMMAND with ProfileMate: the CUDA injection library (CUPTI: graph captures and replays with
GPU time), the Python hooks in every Python process of the run (vLLM's scheduler, KV cache,
runners, graphs, MoE, encoder), NVTX ranges for a tool such as nsys. Every process writes into
one session directory. When COMMAND has exited, the processes it left in its process group are
waited for (up to 30 s), those that left the group (daemons) for 2 s; then the session is
exported to CSV files and summarised. Ctrl-C (SIGINT), SIGTERM and SIGHUP are passed on to
COMMAND's process group; a second Ctrl-C sends SIGTERM, a third SIGKILL; SIGTERM and SIGHUP are
followed by SIGKILL 10 s later. The exit code is COMMAND's (128 + signal when a signal ended it).

Options:
  -o, --output DIR   the session directory (default: ./profilemate-YYYYmmdd-HHMMSS); yours, not a link
  --trace LIST       what to record, comma-separated (default: graphs,python,nvtx)
                       graphs  CUDA graphs through CUPTI (sets CUDA_INJECTION64_PATH)
                       python  the Python hooks (puts them first on PYTHONPATH)
                       nvtx    ProfileMate's NVTX ranges (seen by nsys; free without it)
  --duration S       stop COMMAND after S seconds (SIGINT; SIGTERM 10 s later; SIGKILL after 10 more)
  --force            reuse a DIR that already holds a session (its logs are removed first)
  -h, --help         show this help

COMMAND gets VLLM_ENABLE_PROFILING=1, VLLM_PROFILING_DIR (DIR's parent) and
VLLM_PROFILING_SESSION_ID (DIR's name), the variables that reach vLLM's Ray actors; on another
machine, the same VLLM_PROFILING_SESSION_ID joins the run (see README.md, "Many machines").

If CUDA_INJECTION64_PATH is already set (inside 'nsys profile', for example), it is left alone:
CUPTI allows one subscriber, and it is that tool's. The Python hooks, their CSV files and
ProfileMate's NVTX ranges still work; graph replays are then counted by the Python hooks, without
GPU time. See README.md, "Side by side with nsys".

Examples:
  profilemate profile -o ./run1 -- vllm serve Qwen/Qwen3-8B --max-num-seqs 128
  profilemate profile --duration 120 -- python bench.py
  nsys profile -o nsys-run -- profilemate profile -o ./run1 --trace python,nvtx -- vllm serve Qwen/Qwen3-8B
)";

struct ProfileOptions {
  std::string output;
  bool graphs = true;
  bool python = true;
  bool nvtx = true;
  bool force = false;
  std::optional<std::chrono::seconds> duration;
  std::vector<std::string> command;
};

std::string default_output() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char name[64];
  std::strftime(name, sizeof name, "profilemate-%Y%m%d-%H%M%S", &local);
  return name;
}

// Parses the options before COMMAND; returns an error message, empty when fine.
std::string parse(const Args& args, ProfileOptions& options, bool& help) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (is_help(arg)) {
      help = true;
      return {};
    }
    if (arg == "--") {
      options.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (arg == "--force") {
      options.force = true;
      continue;
    }
    if (arg == "-o" || arg == "--output" || arg == "--trace" || arg == "--duration") {
      if (i + 1 >= args.size()) return std::string(arg) + " needs a value";
      const std::string value(args[++i]);
      if (arg == "--trace") {
        options.graphs = options.python = options.nvtx = false;
        size_t start = 0;
        while (start <= value.size()) {
          const size_t end = std::min(value.find(',', start), value.size());
          const std::string item = value.substr(start, end - start);
          if (item == "graphs") {
            options.graphs = true;
          } else if (item == "python") {
            options.python = true;
          } else if (item == "nvtx") {
            options.nvtx = true;
          } else {
            return "unknown --trace item '" + item + "': expected graphs, python or nvtx";
          }
          start = end + 1;
        }
      } else if (arg == "--duration") {
        char* end = nullptr;
        const long seconds = std::strtol(value.c_str(), &end, 10);
        if (end == value.c_str() || *end != '\0' || seconds <= 0) {
          return "--duration takes a whole number of seconds above 0, not '" + value + "'";
        }
        options.duration = std::chrono::seconds(seconds);
      } else {
        options.output = value;
      }
      continue;
    }
    if (arg.starts_with('-')) return "unknown option " + std::string(arg) + " (the command goes after --)";
    options.command.assign(args.begin() + static_cast<std::ptrdiff_t>(i),
                           args.end());  // no "--": COMMAND starts here
    break;
  }
  if (options.command.empty())
    return "profile needs a command to run, e.g. profilemate profile -- vllm serve MODEL";
  return {};
}

// Prepares DIR: created if missing; a previous session in it is an error unless --force. DIR is
// walked and changed through a directory descriptor, as the recorder does, so a link planted in
// its place or another user's directory is refused before anything is touched.
std::string prepare_output(const std::string& dir, bool force) {
  std::string problem;
  const recorder::UniqueFd dir_fd = recorder::open_private_dir(dir, "-o", problem);
  if (!dir_fd.valid()) return problem;
  const std::vector<std::string> logs = reader::session_log_files_or_empty(dir);
  if (!logs.empty() && !force) {
    return dir + " already holds a session (" + std::to_string(logs.size()) +
           " process logs); choose another directory with -o, or pass --force to replace it";
  }
  for (const std::string& log : logs) {
    const std::string name = std::filesystem::path(log).filename();
    if (::unlinkat(dir_fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      return "cannot remove " + log + " (--force): " + std::strerror(errno);
    }
  }
  ::fchmod(dir_fd.get(), S_IRWXU);  // the recorder wants it private
  return {};
}

std::map<std::string, std::string> child_environment(const ProfileOptions& options, const InstallPaths& paths,
                                                     const std::string& session) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const size_t equals = text.find('=');
    if (equals != std::string_view::npos) env[std::string(text.substr(0, equals))] = text.substr(equals + 1);
  }
  env["PROFILEMATE_SESSION_DIR"] = session;
  env["PROFILEMATE_ENABLE"] = "1";
  // Ray actors get only VLLM_ variables: these name the same session (DIR's parent and name).
  env["VLLM_ENABLE_PROFILING"] = "1";
  const std::filesystem::path dir(session);
  env["VLLM_PROFILING_DIR"] = dir.parent_path().string();
  if (const std::string id = dir.filename().string(); recorder::is_session_id(id)) {
    env["VLLM_PROFILING_SESSION_ID"] = id;
  } else {
    env.erase("VLLM_PROFILING_SESSION_ID");
    std::fprintf(stderr,
                 "profilemate: warning: the session directory's name \"%s\" cannot reach Ray actors or other "
                 "nodes (VLLM_PROFILING_SESSION_ID takes at most %zu letters, digits, '.', '_' or '-'): "
                 "processes that get only VLLM_ variables would record into sessions of their own under %s. "
                 "Name the directory so to keep them in this one.\n",
                 id.c_str(), recorder::kMaxSessionIdLength, env["VLLM_PROFILING_DIR"].c_str());
  }
  if (!options.nvtx) env["PROFILEMATE_NVTX"] = "0";
  // Another tool's injection library (nsys's, when run as 'nsys profile -- profilemate profile'):
  // said whatever --trace asks for, since it decides what this run can record.
  const auto existing = env.find("CUDA_INJECTION64_PATH");
  if (existing != env.end() && !existing->second.empty() && existing->second != paths.injection_library) {
    std::string working;
    if (options.python) working = " The Python hooks (steps, KV cache, graph replay counts)";
    if (options.nvtx) working += working.empty() ? " ProfileMate's NVTX ranges" : " and NVTX ranges";
    if (!working.empty()) working += " still work.";
    std::fprintf(
        stderr,
        "profilemate: CUDA_INJECTION64_PATH is already set (%s), perhaps by nsys: it is left alone "
        "(CUPTI allows one subscriber per process, and it is that tool's), so ProfileMate records no "
        "CUDA graph GPU times in this run.%s\n",
        existing->second.c_str(), working.c_str());
  } else if (options.graphs) {
    env["CUDA_INJECTION64_PATH"] = paths.injection_library;
  }
  if (options.python) {
    const auto existing = env.find("PYTHONPATH");
    env["PYTHONPATH"] =
        paths.python_hooks +
        (existing == env.end() || existing->second.empty() ? std::string() : ":" + existing->second);
  } else {
    env["PROFILEMATE_PYTHON_BOOTSTRAP"] = "0";  // the injection library would install them otherwise
  }
  return env;
}

// "12.5" for a cell of a report, or "-".
std::string value(const std::vector<stats::Table>& tables, std::string_view report, std::string_view row,
                  std::string_view column) {
  for (const stats::Table& table : tables) {
    if (table.name != report) continue;
    const stats::Cell* cell = stats::find_cell(table, row, column);
    return cell != nullptr && cell->value.index() != 0 ? cell->str() : "-";
  }
  return "-";
}

// A whole-number column of a report summed over its rows (0 when the report has none).
int64_t column_total(const std::vector<stats::Table>& tables, std::string_view report,
                     std::string_view column) {
  int64_t total = 0;
  for (const stats::Table& table : tables) {
    if (table.name != report) continue;
    const auto at = std::find(table.columns.begin(), table.columns.end(), column);
    if (at == table.columns.end()) continue;
    const auto index = static_cast<size_t>(at - table.columns.begin());
    for (const std::vector<stats::Cell>& row : table.rows) {
      if (index < row.size() && std::holds_alternative<int64_t>(row[index].value))
        total += std::get<int64_t>(row[index].value);
    }
  }
  return total;
}

void print_summary(const std::string& session_dir) {
  // Sorts spill into the session directory, as the export just did.
  exporter::SortMemory memory(session_dir, stats::kReportSortMemoryBytes);
  exporter::SessionStream session(session_dir, memory);
  // Counted before the reports drain the rows.
  const auto steps = static_cast<unsigned long long>(session.steps.size());
  const auto forward_passes = static_cast<unsigned long long>(session.forward_passes.size());
  const auto evictions = static_cast<unsigned long long>(session.kv_evictions.size());
  const size_t processes = session.tables.processes.size();
  const std::vector<stats::Table> tables = stats::session_reports(session, session_dir);
  std::printf("Summary (profilemate stats for the full reports):\n");
  std::printf("  processes recorded:     %zu\n", processes);
  std::printf("  scheduler steps:        %llu (token utilization p50 %s %%, request utilization p50 %s %%)\n",
              steps, value(tables, "steps", "token_utilization", "p50").c_str(),
              value(tables, "steps", "seq_utilization", "p50").c_str());
  const std::string gpu = value(tables, "steps", "forward_gpu_time", "p50");
  const std::string gpu_text =
      gpu == "-" ? "no GPU time: no CUDA in this run" : "GPU time p50 " + gpu + " ms";
  std::printf("  forward passes:         %llu (CPU time p50 %s ms, %s)\n", forward_passes,
              value(tables, "steps", "forward_cpu_time", "p50").c_str(), gpu_text.c_str());
  const std::string replays = value(tables, "graphs", "(all)", "replays");
  if (replays == "-") {
    std::printf("  CUDA graph replays:     none (an eager run, or no GPU)\n");
  } else {
    std::printf("  CUDA graph replays:     %s (hit rate %s %%, padding %s %%)\n", replays.c_str(),
                value(tables, "graphs", "(all)", "hit_rate_pct").c_str(),
                value(tables, "graphs", "(all)", "padding_pct").c_str());
  }
  std::printf(
      "  KV cache usage:         p50 %s %%, max %s %%; %llu evictions; %lld preemptions (%lld tokens "
      "recomputed)\n",
      value(tables, "kv", "kv_usage", "p50").c_str(), value(tables, "kv", "kv_usage", "max").c_str(),
      evictions, static_cast<long long>(column_total(tables, "preemptions", "count")),
      static_cast<long long>(column_total(tables, "preemptions", "tokens_recomputed")));
}

}  // namespace

int run_profile(const Args& args) {
  ProfileOptions options;
  bool help = false;
  const std::string error = parse(args, options, help);
  if (help) {
    std::fputs(kProfileHelp, stdout);
    return kExitOk;
  }
  if (!error.empty()) return usage_error(error, "profile");

  const InstallPaths paths = find_install_paths();
  if ((options.graphs && paths.injection_library.empty()) || (options.python && paths.python_hooks.empty())) {
    std::fprintf(
        stderr,
        "profilemate: cannot find %s next to this program (looked in:%s). Run the profilemate of a build or "
        "an installed tree (cmake --install), or leave it out with --trace.\n",
        paths.injection_library.empty() ? "the injection library" : "the Python hooks",
        paths.searched.c_str());
    return kExitUsage;
  }
  if (options.output.empty()) options.output = default_output();
  const std::string session = std::filesystem::absolute(options.output).lexically_normal().string();
  if (const std::string problem = prepare_output(session, options.force); !problem.empty()) {
    std::fprintf(stderr, "profilemate: %s\n", problem.c_str());
    return kExitOutput;
  }

  std::fprintf(stderr, "profilemate: recording into %s\n", session.c_str());
  const ChildOutcome outcome =
      run_child(options.command, child_environment(options, paths, session), options.duration);
  if (!outcome.started) {
    std::fprintf(stderr, "profilemate: %s\n", outcome.error.c_str());
    return outcome.exit_code;
  }
  if (outcome.stopped) std::fprintf(stderr, "profilemate: stopped the command after --duration\n");
  if (outcome.signal != 0) {
    std::fprintf(stderr, "profilemate: the command was killed by %s (exit code %d)\n",
                 signal_name(outcome.signal).c_str(), outcome.exit_code);
  }

  if (reader::session_log_files_or_empty(session).empty()) {
    std::fprintf(
        stderr,
        "profilemate: the command exited (code %d) and no process recorded anything. ProfileMate records "
        "in processes that use CUDA or import vLLM; run 'profilemate diagnose' to see what would load.\n",
        outcome.exit_code);
    return outcome.exit_code;
  }
  try {
    const exporter::ExportResult result = exporter::export_session(session, session);
    for (const std::string& warning : result.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    std::printf("Session: %s (%llu records from %llu processes)\n", session.c_str(),
                static_cast<unsigned long long>(result.records),
                static_cast<unsigned long long>(result.processes));
    for (const exporter::OutputFile& file : result.files) {
      std::printf("  %s/%s\n", session.c_str(), file.name.c_str());
    }
    print_summary(session);
    std::printf("Next: profilemate stats %s | profilemate export %s --type perfetto\n", session.c_str(),
                session.c_str());
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "profilemate: the run finished but its session cannot be exported: %s\n",
                 failure.what());
  }
  return outcome.exit_code;
}

}  // namespace profilemate::cli
