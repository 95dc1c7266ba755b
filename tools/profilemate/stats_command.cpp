// `profilemate stats`: nsys-style summary reports of one session (one run, however many hosts).
#include <cstdio>
#include <string>

#include "cli.h"
#include "pmlog_reader.h"
#include "report_options.h"
#include "session_reports.h"

namespace profilemate::cli {
namespace {

constexpr const char* kStatsHelp =
    R"(Usage: profilemate stats SESSION_DIR... [--report NAME[,NAME...]] [--format table|csv|json] [-o FILE]

Summarises a session: where the GPU time and the batch capacity went. Several directories of one
session (one per host), or a directory holding them, are one run. Reports:
  graphs       per batch descriptor: captures, replays, hit rate, padding waste, GPU time
  steps        step utilization (tokens, requests), queues, schedule and forward time
  kv           KV usage percentiles, evictions, prefix cache hit rate, failed allocations
  preemptions  preemptions by cause: requests, tokens freed and recomputed, blocks freed
  moe          expert load imbalance per MoE layer
  health       records, drops, damage, degradations and skipped patches per process
Columns and units: docs/reports.md. Percentiles are by nearest rank.

Options:
  --report NAMES   only these reports (comma-separated; default: all)
  --format F       table (default), csv (one report: plain CSV; several: each after a
                   '# name: title' line) or json (one object, a key per report)
  -o, --output F   write to file F instead of standard output
  --force          read directories of different sessions as one run all the same
  -h, --help       show this help

Examples:
  profilemate stats /tmp/vllm_profiling/session_20261127_101500_3fa2c1
  profilemate stats ./head/run1 ./node2/run1
  profilemate stats ./session --report graphs,steps
  profilemate stats ./session --report kv --format csv -o kv.csv
)";

}  // namespace

int run_stats(const Args& args) {
  std::vector<std::string> sessions;
  bool force = false;
  std::string output;
  ReportOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (is_help(args[i])) {
      std::fputs(kStatsHelp, stdout);
      return kExitOk;
    }
    if (parse_report_option(args, i, options, error)) {
      if (!error.empty()) return usage_error(error, "stats");
    } else if (args[i] == "-o" || args[i] == "--output") {
      if (i + 1 >= args.size()) return usage_error(std::string(args[i]) + " needs a file name", "stats");
      output = args[++i];
    } else if (args[i] == "--force") {
      force = true;
    } else if (args[i].starts_with('-')) {
      return usage_error("unknown option " + std::string(args[i]), "stats");
    } else {
      sessions.emplace_back(args[i]);
    }
  }
  if (sessions.empty()) return usage_error("stats needs a session directory", "stats");
  try {
    std::vector<std::string> warnings;
    const std::vector<stats::Table> tables =
        stats::session_reports(exporter::RunSource(sessions, force), warnings);
    print_warnings(warnings);
    return write_output(render(selected(tables, options), options.format), output);
  } catch (const reader::ReadError& error) {
    print_error(error.what());
    return kExitUnreadable;
  }
}

}  // namespace profilemate::cli
