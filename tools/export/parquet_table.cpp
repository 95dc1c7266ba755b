#include "parquet_table.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "session_dir.h"

namespace profilemate::exporter {
namespace {

// A partition key's value in a directory name: letters, digits, '.', '_' and '-' as they are,
// anything else %XX (as Hive escapes), an empty value as Hive's default partition.
std::string partition_value(std::string_view value) {
  if (value.empty()) return "__HIVE_DEFAULT_PARTITION__";
  std::string escaped;
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '.' || c == '_' || c == '-') {
      escaped += c;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      escaped += '%';
      escaped += kHex[byte >> 4];
      escaped += kHex[byte & 15];
    }
  }
  return escaped;
}

// Buffered bytes per row of a column of `type`: its value and whether it has one.
size_t bytes_per_value(ColumnType type) {
  switch (type) {
    case ColumnType::kInt64: return sizeof(int64_t) + 1;
    case ColumnType::kDouble: return sizeof(double) + 1;
    case ColumnType::kString: return sizeof(int32_t) + 1;
    case ColumnType::kBool: return 2;
  }
  return 0;
}

}  // namespace

std::string_view column_type_name(ColumnType type) {
  switch (type) {
    case ColumnType::kInt64: return "int64";
    case ColumnType::kDouble: return "double";
    case ColumnType::kString: return "string";
    case ColumnType::kBool: return "bool";
  }
  return "";
}

ParquetRows::ParquetRows(ParquetTable& table, std::string session, std::unique_ptr<ParquetFile> file)
    : table_(table), session_(std::move(session)), file_(std::move(file)) {
  columns_.resize(table.schema().size());
  for (size_t i = 0; i < columns_.size(); ++i) columns_[i].type = table.schema()[i].type;
}

ParquetRows& ParquetRows::empty() {
  if (cell_ >= columns_.size() - 1) wrong_cell(ColumnType::kString);
  ColumnValues& column = columns_[cell_++];
  column.valid.push_back(0);
  switch (column.type) {
    case ColumnType::kInt64: column.integers.push_back(0); break;
    case ColumnType::kDouble: column.reals.push_back(0); break;
    case ColumnType::kString: column.indices.push_back(0); break;
    case ColumnType::kBool: column.booleans.push_back(0); break;
  }
  return *this;
}

void ParquetRows::end_row() {
  if (cell_ != columns_.size() - 1) {
    throw std::logic_error(table_.name() + ": a row has " + std::to_string(cell_) + " cells, the table " +
                           std::to_string(columns_.size() - 1) + " columns");
  }
  cell_ = 0;
  ++rows_;
  table_.row_ended(*this);
}

size_t ParquetRows::buffered_bytes() const {
  return rows_ * table_.bytes_per_row_ + dictionary_bytes_;
}

void ParquetRows::added_dictionary_bytes(size_t bytes) {
  dictionary_bytes_ += bytes;
  table_.buffered_bytes_ += bytes;
}

void ParquetRows::write_row_group() {
  if (rows_ == 0) return;
  // session_id: one value for the whole partition.
  ColumnValues& session = columns_.back();
  session.dictionary = {session_};
  session.indices.assign(rows_, 0);
  session.valid.assign(rows_, 1);
  file_->write_row_group(columns_, rows_);
  table_.buffered_bytes_ -= buffered_bytes();
  rows_written_ += rows_;
  rows_ = 0;
  dictionary_bytes_ = 0;
  for (ColumnValues& column : columns_) column.clear();
}

void ParquetRows::close() {
  write_row_group();
  file_->close();
}

void ParquetRows::wrong_cell(ColumnType type) const {
  const std::string what = std::string(column_type_name(type)) + " cell";
  if (cell_ >= columns_.size() - 1) {
    throw std::logic_error(table_.name() + ": a row has more cells than the table's " +
                           std::to_string(columns_.size() - 1) + " columns");
  }
  const ColumnInfo& column = table_.schema()[cell_];
  throw std::logic_error(table_.name() + ": column " + std::string(column.name) + " is declared " +
                         std::string(column_type_name(column.type)) + " but was written an " + what);
}

void ParquetRows::too_large(uint64_t value) const {
  throw std::runtime_error(table_.name() + ": column " + std::string(table_.schema()[cell_].name) + ": " +
                           std::to_string(value) + " does not fit in an int64");
}

ParquetTable::ParquetTable(const std::string& out_dir, std::string name, std::vector<ColumnInfo> columns,
                           const SessionTables& tables)
    : dir_(out_dir + "/" + name), name_(std::move(name)), schema_(std::move(columns)), tables_(tables) {
  schema_.push_back({"session_id", "", ColumnType::kString});
  for (const ColumnInfo& column : schema_) bytes_per_row_ += bytes_per_value(column.type);
}

ParquetTable::~ParquetTable() = default;

ParquetRows& ParquetTable::open_partition(uint32_t process) {
  const Process& owner = tables_.processes.at(process);
  const std::string& session = owner.header.session_id();
  std::unique_ptr<ParquetRows>& partition = partitions_[{session, owner.host()}];
  if (!partition) {
    struct stat out {};
    const std::string out_dir = dir_.substr(0, dir_.rfind('/'));
    const mode_t mode = ::stat(out_dir.c_str(), &out) == 0 ? out.st_mode & 07777 : 0777;
    // Made with the mode of the output directory (which the export made with the session's): what
    // a private session holds stays private. Walked as a session is: never through a planted link.
    const std::string dir =
        dir_ + "/session=" + partition_value(session) + "/hostname=" + partition_value(owner.host());
    std::string error;
    if (!recorder::open_dir(dir, {.create_mode = mode, .owned = false}, error).valid()) {
      throw std::runtime_error("cannot create directory " + dir + ": " + error);
    }
    partition =
        std::make_unique<ParquetRows>(*this, session, open_parquet_file(dir + "/part-0.parquet", schema_));
  }
  if (process >= partition_of_.size()) partition_of_.resize(size_t{process} + 1);
  partition_of_[process] = partition.get();
  return *partition;
}

void ParquetTable::row_ended(ParquetRows& rows) {
  buffered_bytes_ += bytes_per_row_;
  if (rows.buffered_rows() >= kRowGroupRows) rows.write_row_group();
  if (buffered_bytes_ <= kBufferBytes) return;
  // Over the bound with several partitions gathering: the largest goes out first.
  const auto largest = std::max_element(
      partitions_.begin(), partitions_.end(),
      [](const auto& a, const auto& b) { return a.second->buffered_bytes() < b.second->buffered_bytes(); });
  largest->second->write_row_group();
}

OutputFile ParquetTable::close() {
  if (partitions_.empty() && !tables_.processes.empty()) open_partition(0);
  uint64_t rows = 0;
  for (auto& [key, partition] : partitions_) {
    partition->close();
    rows += partition->rows_written();
  }
  return {name_ + "/", rows};
}

}  // namespace profilemate::exporter
