// The CSV files of a session: the predecessor's columns first, in its order and units, then
// ours. Every file is written, with its header row, even when it has no rows.
// docs/csv-reference.md documents every column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "session_data.h"

namespace profilemate::exporter {

struct OutputFile {
  std::string name;
  uint64_t rows = 0;
};

// Writes the CSV files (the eleven of the predecessor and cuda_graph_replays.csv) into `out_dir` (which must
// exist). Throws std::runtime_error naming the file that could not be written.
std::vector<OutputFile> write_csv_files(const SessionData& data, const std::string& out_dir);

}  // namespace profilemate::exporter
