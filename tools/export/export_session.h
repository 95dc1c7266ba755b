// `profilemate export`: a session directory in, the CSV files and metadata.json out.
#pragma once

#include <string>
#include <vector>

#include "csv_files.h"
#include "perfetto_trace.h"
#include "session_data.h"

namespace profilemate::exporter {

struct ExportResult {
  std::string output_dir;
  std::vector<OutputFile> files;  // the CSV files, then metadata.json; or the Parquet tables
  // One line each for damage that was survived: torn tails, corrupt records, drops.
  std::vector<std::string> warnings;
  uint64_t processes = 0;
  uint64_t records = 0;
  TraceSummary trace;              // export_perfetto only
  uint64_t sort_runs_spilled = 0;  // export_session only: sorted runs written to temporary files
};

enum class TableFormat {
  kCsv,      // the CSV files and metadata.json
  kParquet,  // a Parquet dataset per table (docs/parquet.md)
};

struct ExportOptions {
  TableFormat format = TableFormat::kCsv;
  // Memory the sort of time-ordered rows may hold before it spills sorted runs to temporary files
  // in the output directory (merged back as the files are written).
  size_t sort_memory_bytes = size_t{64} << 20;
};

// Reads the session (all its hosts' directories: `source`) in one pass, with memory bounded by `options` (and
// the small per-process, per-graph tables). Throws reader::ReadError when the session cannot be read at all,
// std::runtime_error when an output file cannot be written.
ExportResult export_session(const RunSource& source, const std::string& output_dir,
                            const ExportOptions& options = {});

// The Perfetto trace of a session: `output_dir`/kTraceFileName, the one file in `files`. Throws
// as export_session does.
inline constexpr const char* kTraceFileName = "trace.perfetto-trace";
ExportResult export_perfetto(const RunSource& source, const std::string& output_dir,
                             const TraceProgress& progress = {});

}  // namespace profilemate::exporter
