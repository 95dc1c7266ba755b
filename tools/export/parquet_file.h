// One Parquet file of a table's dataset, behind an interface without Arrow's types: the tables'
// column declarations (csv_files.cpp) and the dataset's partitioning (parquet_table.cpp) compile in
// every build, and only parquet_file_arrow.cpp, the plugin, needs Arrow.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "csv_files.h"

namespace profilemate::exporter {

// Hashes std::string and std::string_view alike, so a dictionary is searched without a copy.
struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

// The values of one column in the row group being gathered: one slot per row in the vector of
// the column's type (a null's slot holds 0), and whether the row has a value.
struct ColumnValues {
  ColumnType type = ColumnType::kString;
  std::vector<int64_t> integers;
  std::vector<double> reals;
  std::vector<uint8_t> booleans;
  std::vector<int32_t> indices;  // into dictionary: a string column's values
  std::vector<std::string> dictionary;
  std::unordered_map<std::string, int32_t, TextHash, std::equal_to<>> index_of;  // in dictionary
  std::vector<uint8_t> valid;

  // Forgets the rows, the dictionary too: each row group has its own.
  void clear() {
    integers.clear();
    reals.clear();
    booleans.clear();
    indices.clear();
    dictionary.clear();
    index_of.clear();
    valid.clear();
  }
};

class ParquetFile {
 public:
  virtual ~ParquetFile() = default;
  // Writes `rows` rows of `columns` (in the order the file was opened with) as one row group.
  virtual void write_row_group(std::span<const ColumnValues> columns, size_t rows) = 0;
  // Writes the footer and gives the file its name; a file not closed is removed. Throws
  // std::runtime_error naming the file on failure.
  virtual void close() = 0;
};

// Parquet files are written by a plugin, libprofilemate_parquet.so (parquet_file_arrow.cpp, linked
// with Arrow's libraries, which an installed tree keeps beside it in lib/profilemate/), loaded the
// first time it is needed (parquet_plugin.cpp): the profilemate program itself needs only system
// libraries, and a tree without the plugin (a CSV-only build, the GPU check's stage) still runs
// and says what is missing.

// Whether Parquet files can be written: the plugin is there and loads.
bool parquet_supported();
// Why not, when they cannot: what is missing and what to install or rebuild.
std::string parquet_unsupported_reason();

// Creates the file at `path` (under a temporary name until close) with `columns` as its schema.
// Throws std::runtime_error naming `path` when it cannot be created, or giving
// parquet_unsupported_reason().
std::unique_ptr<ParquetFile> open_parquet_file(const std::string& path, std::span<const ColumnInfo> columns);

// The plugin's one entry point (C linkage, so that it is found by name; the plugin is built with
// this program, so the C++ types cross unchanged).
using OpenParquetFile = std::unique_ptr<ParquetFile> (*)(const std::string& path,
                                                         std::span<const ColumnInfo> columns);
inline constexpr const char* kOpenParquetFileSymbol = "profilemate_open_parquet_file";

}  // namespace profilemate::exporter
