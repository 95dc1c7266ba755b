#include "csv_writer.h"

#include "number_text.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace profilemate::exporter {
namespace {

constexpr size_t kFlushBytes = 1 << 20;

}  // namespace

CsvWriter::CsvWriter(std::string path, std::span<const std::string_view> columns)
    : path_(std::move(path)), file_(std::fopen(path_.c_str(), "wb")) {
  if (!file_) throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
  buffer_.reserve(kFlushBytes + 4096);
  columns_ = columns.size();
  for (const std::string_view column : columns) text(column);
  end_row();
  rows_ = 0;
}

void CsvWriter::separator() {
  if (cells_++ > 0) buffer_.push_back(',');
}

CsvWriter& CsvWriter::text(std::string_view value) {
  separator();
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    buffer_.append(value);
    return *this;
  }
  buffer_.push_back('"');
  for (const char c : value) {
    if (c == '"') buffer_.push_back('"');
    buffer_.push_back(c);
  }
  buffer_.push_back('"');
  return *this;
}

template <typename Integer>
CsvWriter& CsvWriter::number(Integer value) {
  separator();
  append_integer(buffer_, value);
  return *this;
}

CsvWriter& CsvWriter::integer(uint64_t value) {
  return number(value);
}
CsvWriter& CsvWriter::signed_integer(int64_t value) {
  return number(value);
}

CsvWriter& CsvWriter::fixed(double value, int decimals) {
  if (!std::isfinite(value)) return empty();
  separator();
  append_fixed(buffer_, value, decimals);
  return *this;
}

CsvWriter& CsvWriter::boolean(bool value) {
  return text(value ? "True" : "False");
}

CsvWriter& CsvWriter::empty() {
  separator();
  return *this;
}

void CsvWriter::end_row() {
  if (cells_ != columns_) {
    throw std::runtime_error(path_ + ": row " + std::to_string(rows_ + 1) + " has " + std::to_string(cells_) +
                             " cells, the header " + std::to_string(columns_) + " columns");
  }
  buffer_.push_back('\n');
  cells_ = 0;
  ++rows_;
  if (buffer_.size() >= kFlushBytes) write_out();
}

void CsvWriter::write_out() {
  if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_.get()) != buffer_.size()) {
    throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  buffer_.clear();
}

void CsvWriter::close() {
  write_out();
  if (std::fflush(file_.get()) != 0) {
    throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  file_.reset();
}

}  // namespace profilemate::exporter
