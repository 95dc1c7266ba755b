// `profilemate export`: a session's logs to the CSV files and metadata.json.
#include <cstdio>
#include <string>

#include "cli.h"
#include "export_session.h"
#include "pmlog_reader.h"

namespace profilemate::cli {
namespace {

constexpr const char* kExportHelp = R"(Usage: profilemate export SESSION_DIR [--output DIR] [--type csv]

Merges every process log (*.pmlog) of SESSION_DIR and writes, into DIR (default: SESSION_DIR):
  cuda_graph_captures.csv   cuda_graph_usage.csv       cuda_graph_replays.csv
  kv_cache_usage.csv        kv_cache_evictions.csv     moe_expert_selection.csv
  moe_expert_timing.csv     forward_pass_timing.csv    cpu_operations_timing.csv
  batch_utilization.csv     preemption_events.csv      encoder_decoder_timing.csv
  metadata.json
Every file is written, with its header row, even when it has no rows. Columns and units:
docs/csv-reference.md.

A torn last record (a process killed mid-write) or a corrupt record is skipped and reported,
with file and byte offset; everything readable is still converted.

Options:
  -o, --output DIR   where to write (created if missing)
  --type csv         output type (csv is the only one)
  -h, --help         show this help

Examples:
  profilemate export /tmp/vllm_profiling/session_20261127_101500_3fa2c1
  profilemate export ./session -o ./csv
)";

}  // namespace

int run_export(const Args& args) {
  std::string session;
  std::string output;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (is_help(arg)) {
      std::fputs(kExportHelp, stdout);
      return kExitOk;
    }
    if (arg == "-o" || arg == "--output" || arg == "--type") {
      if (i + 1 >= args.size()) return usage_error(std::string(arg) + " needs a value", "export");
      const std::string_view value = args[++i];
      if (arg == "--type") {
        if (value != "csv")
          return usage_error("unknown export type '" + std::string(value) + "': expected csv", "export");
      } else {
        output = value;
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return usage_error("unknown option " + std::string(arg), "export");
    } else if (session.empty()) {
      session = arg;
    } else {
      return usage_error(
          "one session directory at a time (got '" + session + "' and '" + std::string(arg) + "')", "export");
    }
  }
  if (session.empty()) return usage_error("export needs a session directory", "export");
  if (output.empty()) output = session;

  try {
    const profilemate::exporter::ExportResult result = profilemate::exporter::export_session(session, output);
    for (const std::string& warning : result.warnings) std::fprintf(stderr, "warning: %s\n", warning.c_str());
    std::printf("Read %llu records from %llu process log(s) in %s\n",
                static_cast<unsigned long long>(result.records),
                static_cast<unsigned long long>(result.processes), session.c_str());
    for (const profilemate::exporter::OutputFile& file : result.files) {
      if (file.name == "metadata.json") {
        std::printf("  %s/%s\n", result.output_dir.c_str(), file.name.c_str());
      } else {
        std::printf("  %s/%s (%llu row%s)\n", result.output_dir.c_str(), file.name.c_str(),
                    static_cast<unsigned long long>(file.rows), file.rows == 1 ? "" : "s");
      }
    }
    return kExitOk;
  } catch (const profilemate::reader::ReadError& error) {
    std::fprintf(stderr, "profilemate: %s\n", error.what());
    return kExitUnreadable;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "profilemate: %s\n", error.what());
    return kExitOutput;
  }
}

}  // namespace profilemate::cli
