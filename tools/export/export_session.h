// `profilemate export`: a session directory in, the CSV files and metadata.json out.
#pragma once

#include <string>
#include <vector>

#include "csv_files.h"

namespace profilemate::exporter {

struct ExportResult {
  std::string output_dir;
  std::vector<OutputFile> files;  // the CSV files, then metadata.json
  // One line each for damage that was survived: torn tails, corrupt records, drops.
  std::vector<std::string> warnings;
  uint64_t processes = 0;
  uint64_t records = 0;
};

// Throws reader::ReadError when the session cannot be read at all, std::runtime_error when an
// output file cannot be written.
ExportResult export_session(const std::string& session_dir, const std::string& output_dir);

}  // namespace profilemate::exporter
