// `profilemate compare`: two sessions' reports side by side.
#include <cstdio>
#include <string>

#include "cli.h"
#include "compare_reports.h"
#include "pmlog_reader.h"
#include "report_options.h"
#include "session_reports.h"

namespace profilemate::cli {
namespace {

constexpr const char* kCompareHelp =
    R"(Usage: profilemate compare SESSION_A SESSION_B [--report NAME[,NAME...]] [--format table|csv|json] [-o FILE]

Puts every number of the two sessions' reports (see 'profilemate stats --help') side by side:
a, b, delta = b - a, ratio = b / a. For before/after runs: other CUDA graph capture sizes,
another max_num_seqs, a new vLLM, ProfileMate's hooks inside nsys against a run of its own. A
run of several hosts is a directory holding their session directories.
Metrics are named <report>.<row>.<column>, e.g. steps.token_utilization.p50 or
graphs.FULL n=8 reqs=8 uniform.replays.

Options:
  --report NAMES   only these reports (comma-separated; default: all)
  --format F       table (default), csv or json
  -o, --output F   write to file F instead of standard output
  --force          read directories of different sessions as one run all the same
  -h, --help       show this help

Examples:
  profilemate compare ./before ./after
  profilemate compare ./before ./after --report steps,graphs --format csv -o compare.csv
)";

}  // namespace

int run_compare(const Args& args) {
  std::vector<std::string> sessions;
  std::string output;
  bool force = false;
  ReportOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (is_help(args[i])) {
      std::fputs(kCompareHelp, stdout);
      return kExitOk;
    }
    if (parse_report_option(args, i, options, error)) {
      if (!error.empty()) return usage_error(error, "compare");
    } else if (args[i] == "-o" || args[i] == "--output") {
      if (i + 1 >= args.size()) return usage_error(std::string(args[i]) + " needs a file name", "compare");
      output = args[++i];
    } else if (args[i] == "--force") {
      force = true;
    } else if (args[i].starts_with('-')) {
      return usage_error("unknown option " + std::string(args[i]), "compare");
    } else {
      sessions.emplace_back(args[i]);
    }
  }
  if (sessions.size() != 2) {
    return usage_error("compare needs two session directories (got " + std::to_string(sessions.size()) + ")",
                       "compare");
  }
  try {
    std::vector<stats::Table> sides[2];
    for (int side = 0; side < 2; ++side) {
      std::vector<std::string> warnings;
      const std::vector<stats::Table> all =
          stats::session_reports(exporter::RunSource({sessions[side]}, force), warnings);
      print_warnings(warnings);
      for (const stats::Table* table : selected(all, options)) sides[side].push_back(*table);
    }
    stats::Table table = stats::compare_tables(sides[0], sides[1]);
    table.notes.insert(table.notes.begin(), {"a: " + sessions[0], "b: " + sessions[1]});
    return write_output(render({&table}, options.format), output);
  } catch (const reader::ReadError& error) {
    print_error(error.what());
    return kExitUnreadable;
  }
}

}  // namespace profilemate::cli
