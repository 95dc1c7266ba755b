// A table written as a Parquet dataset, partitioned Hive-style by the session and host of each
// row's process (docs/parquet.md):
//   OUT/<table>/session=<session id>/hostname=<host>/part-0.parquet
// so that the trees of many sessions and hosts copied together read as one table. Each row carries
// the CSV's columns plus session_id; the partition keys are named apart from the columns (host,
// session_id), because engines differ on a key that is also a column of the files.
//
// Rows are gathered per partition, column by column, into row groups of at most kRowGroupRows
// rows; all partitions of a table together hold at most kBufferBytes of values, the largest being
// written out first when they would hold more. That, and one row group's pages in Arrow's writer,
// is the memory a table's export adds to the CSV export's.
#pragma once

#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "csv_files.h"
#include "number_text.h"
#include "parquet_file.h"
#include "session_data.h"

namespace profilemate::exporter {

class ParquetTable;

// The rows of one partition: the cell methods of CsvWriter, so that one column declaration writes
// both. A cell must be of its column's declared type; a mismatch is a bug of the declaration and
// throws std::logic_error naming the column.
class ParquetRows {
 public:
  ParquetRows(ParquetTable& table, std::string session, std::unique_ptr<ParquetFile> file);

  ParquetRows& text(std::string_view value) {
    ColumnValues& column = next(ColumnType::kString);
    // Rows in a row repeat their strings (a process's host and role): the last one is checked first.
    const auto last = static_cast<size_t>(column.indices.empty() ? 0 : column.indices.back());
    if (last < column.dictionary.size() && column.dictionary[last] == value) {
      column.indices.push_back(static_cast<int32_t>(last));
      return *this;
    }
    auto at = column.index_of.find(value);
    if (at == column.index_of.end()) {
      at = column.index_of.emplace(std::string(value), static_cast<int32_t>(column.dictionary.size())).first;
      column.dictionary.emplace_back(value);
      added_dictionary_bytes(2 * (value.size() + sizeof(std::string)));  // the dictionary and its index
    }
    column.indices.push_back(at->second);
    return *this;
  }
  ParquetRows& unix_ns(uint64_t value) { return integer(value); }
  ParquetRows& integer(uint64_t value) {
    if (value > static_cast<uint64_t>(INT64_MAX)) too_large(value);
    return signed_integer(static_cast<int64_t>(value));
  }
  ParquetRows& signed_integer(int64_t value) {
    next(ColumnType::kInt64).integers.push_back(value);
    return *this;
  }
  // The value the CSV writes, as a double: formatted, then read back.
  ParquetRows& fixed(double value, int decimals) {
    if (!std::isfinite(value)) return empty();
    char text[kMaxFixedChars];
    double written = 0;
    std::from_chars(text, fixed_chars(text, text + sizeof text, value, decimals), written);
    return real(written);
  }
  // Exact: below 2^53 the quotient of two exact doubles is the double nearest the decimal.
  ParquetRows& decimal(uint64_t value, int decimals) {
    return real(static_cast<double>(value) / kPowersOfTen[decimals]);
  }
  ParquetRows& signed_decimal(int64_t value, int decimals) {
    return real(static_cast<double>(value) / kPowersOfTen[decimals]);
  }
  ParquetRows& boolean(bool value) {
    next(ColumnType::kBool).booleans.push_back(value ? 1 : 0);
    return *this;
  }
  // No value: null.
  ParquetRows& empty();
  // Where the CSV spells "no value" in a number column as the predecessor did (`None`): null.
  ParquetRows& placeholder(std::string_view /*csv_spelling*/) { return empty(); }
  void end_row();

  // Writes the rows gathered as a row group, and forgets them.
  void write_row_group();
  // Writes the rest and the footer.
  void close();
  [[nodiscard]] size_t buffered_rows() const { return rows_; }
  [[nodiscard]] uint64_t rows_written() const { return rows_written_; }
  [[nodiscard]] size_t buffered_bytes() const;

 private:
  ColumnValues& next(ColumnType type) {
    if (cell_ >= columns_.size() - 1 || columns_[cell_].type != type) wrong_cell(type);
    ColumnValues& column = columns_[cell_++];
    column.valid.push_back(1);
    return column;
  }
  ParquetRows& real(double value) {
    next(ColumnType::kDouble).reals.push_back(value);
    return *this;
  }
  void added_dictionary_bytes(size_t bytes);
  [[noreturn]] void wrong_cell(ColumnType type) const;
  [[noreturn]] void too_large(uint64_t value) const;

  ParquetTable& table_;
  std::string session_;
  std::unique_ptr<ParquetFile> file_;
  std::vector<ColumnValues> columns_;  // the table's, then session_id (filled as a row group is written)
  size_t cell_ = 0;                    // in the row being written
  size_t rows_ = 0;                    // gathered, not yet written
  size_t dictionary_bytes_ = 0;        // of the dictionaries' strings, about
  uint64_t rows_written_ = 0;
};

class ParquetTable {
 public:
  static constexpr size_t kRowGroupRows = size_t{1} << 20;
  static constexpr size_t kBufferBytes = size_t{32} << 20;

  // The dataset `out_dir`/`name` of the rows of `tables`'s processes, with `columns`.
  ParquetTable(const std::string& out_dir, std::string name, std::vector<ColumnInfo> columns,
               const SessionTables& tables);
  ParquetTable(const ParquetTable&) = delete;
  ParquetTable& operator=(const ParquetTable&) = delete;
  ~ParquetTable();

  // Where the next row of `process` goes.
  ParquetRows& rows(uint32_t process) {
    if (process < partition_of_.size() && partition_of_[process] != nullptr) return *partition_of_[process];
    return open_partition(process);
  }
  // Writes what is left and closes every file. A table without rows still gets a file, of the
  // first process's partition, so that its schema can be read (engines refuse an empty glob).
  OutputFile close();

  // Table columns plus session_id: the files' schema.
  [[nodiscard]] const std::vector<ColumnInfo>& schema() const { return schema_; }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  friend class ParquetRows;
  // Called as a row of `rows` ends: writes row groups where the limits say.
  void row_ended(ParquetRows& rows);
  ParquetRows& open_partition(uint32_t process);

  std::string dir_;  // out_dir/name
  std::string name_;
  std::vector<ColumnInfo> schema_;
  const SessionTables& tables_;
  size_t bytes_per_row_ = 0;
  size_t buffered_bytes_ = 0;                                                               // all partitions'
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ParquetRows>> partitions_;  // (session, host)
  std::vector<ParquetRows*> partition_of_;                                                  // by process
};

}  // namespace profilemate::exporter
