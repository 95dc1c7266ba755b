// `profilemate export`: a session directory in, the CSV files and metadata.json out.
#pragma once

#include <string>
#include <vector>

#include "csv_files.h"
#include "perfetto_trace.h"

namespace profilemate::exporter {

struct ExportResult {
  std::string output_dir;
  std::vector<OutputFile> files;  // the CSV files, then metadata.json
  // One line each for damage that was survived: torn tails, corrupt records, drops.
  std::vector<std::string> warnings;
  uint64_t processes = 0;
  uint64_t records = 0;
  TraceSummary trace;  // export_perfetto only
};

// Throws reader::ReadError when the session cannot be read at all, std::runtime_error when an
// output file cannot be written.
ExportResult export_session(const std::string& session_dir, const std::string& output_dir);

// The Perfetto trace of a session: `output_dir`/kTraceFileName, the one file in `files`. Throws
// as export_session does.
inline constexpr const char* kTraceFileName = "trace.perfetto-trace";
ExportResult export_perfetto(const std::string& session_dir, const std::string& output_dir,
                             const TraceProgress& progress = {});

}  // namespace profilemate::exporter
