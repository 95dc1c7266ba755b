// `profilemate export`: a session's logs to the CSV files and metadata.json, or to a Perfetto
// trace.
#include <cstdio>
#include <string>

#include "cli.h"
#include "export_session.h"
#include "parquet_file.h"
#include "pmlog_reader.h"
#include "progress_bar.h"

namespace profilemate::cli {
namespace {

constexpr const char* kExportHelp =
    R"(Usage: profilemate export SESSION_DIR... [--output DIR] [--type csv|parquet|perfetto] [--force]

Merges every process log (*.pmlog) of SESSION_DIR and writes, into DIR (default: SESSION_DIR):

--type csv (the default):
  cuda_graph_captures.csv   cuda_graph_usage.csv       cuda_graph_replays.csv
  kv_cache_usage.csv        kv_cache_evictions.csv     moe_expert_selection.csv
  moe_expert_timing.csv     forward_pass_timing.csv    cpu_operations_timing.csv
  batch_utilization.csv     preemption_events.csv      encoder_decoder_timing.csv
  metadata.json
Every file is written, with its header row, even when it has no rows. Columns and units:
docs/csv-reference.md.

--type parquet:
  <table>/session=<id>/hostname=<host>/part-0.parquet   for each CSV file's table (its name
                            without .csv): the same columns and units, typed (integers, doubles,
                            dictionary-encoded strings, booleans; empty cells are nulls), plus
                            session_id; zstd-compressed. Copy the trees of many sessions and hosts
                            into one and query it as one table (DuckDB, pyarrow, Spark, Trino).
                            Layout and types: docs/parquet.md.

--type perfetto:
  trace.perfetto-trace      one timeline of every process: threads, scheduler steps, graph
                            launches with flows to their execution on each GPU stream, and
                            counters (KV cache usage, batch tokens, running and waiting
                            requests). Open it at https://ui.perfetto.dev. Tracks and slices:
                            docs/perfetto.md.

Several session directories of one run (one per host: the same session id), or a directory
holding them, are merged as one run: every row says its host, metadata.json groups the processes
by host, the timeline has a process group per host. Hosts are taken to share CLOCK_REALTIME
(NTP/PTP); where the logs show otherwise, a warning says so. Directories of different sessions
are refused unless --force. With several directories, --output is needed.

A torn last record (a process killed mid-write) or a corrupt record is skipped and reported,
with file and byte offset; everything readable is still converted. A *.pmlog that cannot be used
(empty, unreadable, not a log, a link, a FIFO, another user's) is skipped with a warning naming it
and why; the exit code stays 0 as long as one log was converted.

Each output is written under a temporary name and renamed into place when complete (a link or a
file already there is replaced, never written through). A new DIR gets SESSION_DIR's mode, the
files that of DIR without execute bits: a 0700 session gives 0600 files.

Options:
  -o, --output DIR   where to write (created if missing)
  --type TYPE        csv (default), parquet or perfetto
  --force            read directories of different sessions as one run all the same
  -h, --help         show this help

Examples:
  profilemate export /tmp/vllm_profiling/session_20261127_101500_3fa2c1
  profilemate export ./session -o ./csv
  profilemate export ./session --type perfetto -o ./trace
  profilemate export ./session --type parquet -o ./fleet
  profilemate export ./head/run1 ./node2/run1 -o ./run1-all
)";

enum class ExportType { kCsv, kParquet, kPerfetto };

void print_read_summary(const profilemate::exporter::ExportResult& result, const std::string& session) {
  std::printf("Read %llu records from %llu process log(s) in %s\n",
              static_cast<unsigned long long>(result.records),
              static_cast<unsigned long long>(result.processes), session.c_str());
}

void print_csv_export(const profilemate::exporter::ExportResult& result) {
  for (const profilemate::exporter::OutputFile& file : result.files) {
    if (file.name == "metadata.json") {
      std::printf("  %s/%s\n", result.output_dir.c_str(), file.name.c_str());
    } else {
      std::printf("  %s/%s (%llu row%s)\n", result.output_dir.c_str(), file.name.c_str(),
                  static_cast<unsigned long long>(file.rows), file.rows == 1 ? "" : "s");
    }
  }
}

void print_trace_export(const profilemate::exporter::ExportResult& result) {
  const profilemate::exporter::TraceSummary& trace = result.trace;
  std::printf("  %s/%s (%llu tracks, %llu slices, %llu flows, %llu counter values, %.1f MB)\n",
              result.output_dir.c_str(), profilemate::exporter::kTraceFileName,
              static_cast<unsigned long long>(trace.tracks), static_cast<unsigned long long>(trace.slices),
              static_cast<unsigned long long>(trace.flows),
              static_cast<unsigned long long>(trace.counter_values), static_cast<double>(trace.bytes) / 1e6);
  std::printf("Open it at https://ui.perfetto.dev (Open trace file).\n");
}

}  // namespace

int run_export(const Args& args) {
  std::vector<std::string> sessions;
  bool force = false;
  std::string output;
  ExportType type = ExportType::kCsv;
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
        if (value == "csv") {
          type = ExportType::kCsv;
        } else if (value == "parquet") {
          type = ExportType::kParquet;
        } else if (value == "perfetto") {
          type = ExportType::kPerfetto;
        } else {
          return usage_error(
              "unknown export type '" + std::string(value) + "': expected csv, parquet or perfetto",
              "export");
        }
      } else {
        output = value;
      }
    } else if (arg == "--force") {
      force = true;
    } else if (!arg.empty() && arg[0] == '-') {
      return usage_error("unknown option " + std::string(arg), "export");
    } else {
      sessions.emplace_back(arg);
    }
  }
  if (sessions.empty()) return usage_error("export needs a session directory", "export");
  if (output.empty() && sessions.size() > 1) {
    return usage_error("several session directories: say where the merged run goes with --output DIR",
                       "export");
  }
  if (type == ExportType::kParquet && !profilemate::exporter::parquet_supported()) {
    print_error(profilemate::exporter::parquet_unsupported_reason());
    return kExitUsage;
  }
  if (output.empty()) output = sessions.front();
  const profilemate::exporter::RunSource source(sessions, force);
  const std::string session = source.describe();

  try {
    if (type == ExportType::kPerfetto) {
      profilemate::exporter::ExportResult result;
      {
        profilemate::exporter::ProgressBar bar("Writing the Perfetto trace");
        result = profilemate::exporter::export_perfetto(
            source, output, [&bar](uint64_t done, uint64_t total) { bar.update(done, total); });
      }
      print_warnings(result.warnings);
      print_read_summary(result, session);
      print_trace_export(result);
      return kExitOk;
    }
    profilemate::exporter::ExportOptions options;
    if (type == ExportType::kParquet) options.format = profilemate::exporter::TableFormat::kParquet;
    const profilemate::exporter::ExportResult result =
        profilemate::exporter::export_session(source, output, options);
    print_warnings(result.warnings);
    print_read_summary(result, session);
    print_csv_export(result);
    return kExitOk;
  } catch (const profilemate::reader::ReadError& error) {
    print_error(error.what());
    return kExitUnreadable;
  } catch (const std::exception& error) {
    // Nothing was read wrong: the output place is the problem, and another one is the way out.
    print_error(std::string(error.what()) + "; write elsewhere with -o DIR");
    return kExitOutput;
  }
}

}  // namespace profilemate::cli
