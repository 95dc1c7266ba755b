// The tables of a session, as CSV files or Parquet datasets: the predecessor's columns first, in
// its order and units, then ours. Each file's columns are declared once (name, unit, type, how a
// cell is written), so header, schema and rows cannot drift. docs/csv-reference.md documents every
// column, docs/parquet.md the Parquet layout and types.
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

// A column's type in typed outputs (Parquet). Every column may be null: the CSV's empty cell.
enum class ColumnType {
  kInt64,   // counts, ids, nanoseconds
  kDouble,  // the CSV's decimal values, in the CSV's unit
  kString,  // dictionary-encoded
  kBool,
};
// "int64", "double", "string", "bool": as docs/parquet.md names them.
std::string_view column_type_name(ColumnType type);

struct ColumnInfo {
  std::string_view name;
  std::string_view unit;  // empty: a label, an id, or see the conventions
  ColumnType type = ColumnType::kString;
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

// Writes the same tables as Parquet datasets into `out_dir` (which must exist), one per CSV file,
// partitioned by session and host (docs/parquet.md), draining the session's sinks. An OutputFile
// names a table's directory and counts its rows. Throws std::runtime_error naming the file that
// could not be written, or saying that this build has no Parquet support (parquet_supported()).
std::vector<OutputFile> write_parquet_files(SessionStream& session, const std::string& out_dir);

}  // namespace profilemate::exporter
