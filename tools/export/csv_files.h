// The CSV files of a session: the predecessor's columns first, in its order and units, then
// ours. Every file is written, with its header row, even when it has no rows. Each file's columns
// are declared once (name, unit, how a cell is written), so header and rows cannot drift.
// docs/csv-reference.md documents every column.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "session_data.h"

namespace profilemate::exporter {

struct OutputFile {
  std::string name;
  uint64_t rows = 0;
};

struct ColumnInfo {
  std::string_view name;
  std::string_view unit;  // empty: a label, an id, or see the conventions
};

struct CsvFileInfo {
  std::string_view name;
  std::vector<ColumnInfo> columns;
};

// Every CSV file written and its columns, in order.
std::vector<CsvFileInfo> csv_file_columns();

// Writes the CSV files (the eleven of the predecessor and cuda_graph_replays.csv) into `out_dir`
// (which must exist), draining the session's sinks. Throws std::runtime_error naming the file
// that could not be written.
std::vector<OutputFile> write_csv_files(SessionStream& session, const std::string& out_dir);

}  // namespace profilemate::exporter
