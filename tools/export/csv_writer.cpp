#include "csv_writer.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace profilemate::exporter {
namespace {

// Written out in blocks of about this size.
constexpr size_t kFlushBytes = 1 << 20;
// Room past the flush point, for the row being written.
constexpr size_t kSlackBytes = 64 << 10;

}  // namespace

CsvWriter::CsvWriter(std::string path, size_t columns)
    : path_(std::move(path)),
      buffer_(std::make_unique_for_overwrite<char[]>(kFlushBytes + kSlackBytes)),
      pos_(buffer_.get()),
      end_(pos_ + kFlushBytes + kSlackBytes),
      flush_at_(pos_ + kFlushBytes),
      columns_(columns) {}

CsvWriter::CsvWriter(std::string path, std::span<const std::string_view> columns)
    : CsvWriter(std::move(path), columns.size()) {
  file_.reset(std::fopen(path_.c_str(), "wb"));
  if (!file_) throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
  // The blocks are large: stdio's own buffer would only copy them once more.
  std::setvbuf(file_.get(), nullptr, _IONBF, 0);
  for (const std::string_view column : columns) text(column);
  end_row();
  rows_ = 0;
}

CsvWriter& CsvWriter::text(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    char* at = room(value.size());
    return cell(std::copy(value.begin(), value.end(), at));
  }
  char* at = room(2 * value.size() + 2);
  *at++ = '"';
  for (const char c : value) {
    if (c == '"') *at++ = '"';
    *at++ = c;
  }
  *at++ = '"';
  return cell(at);
}

CsvWriter& CsvWriter::boolean(bool value) {
  return text(value ? "True" : "False");
}

void CsvWriter::make_room(size_t size) {
  // A file's writer writes out all but the row being written; a batch keeps everything.
  const char* row = file_ ? pos_ : buffer_.get();
  if (file_) {
    while (row > buffer_.get() && row[-1] != '\n') --row;
    write(buffer_.get(), static_cast<size_t>(row - buffer_.get()));
  }
  const auto kept = static_cast<size_t>(pos_ - row);
  const auto capacity = static_cast<size_t>(end_ - buffer_.get());
  if (kept + size > capacity || !file_) {
    const size_t grown = std::max(2 * capacity, kept + size + kSlackBytes);
    auto bigger = std::make_unique_for_overwrite<char[]>(grown);
    std::memcpy(bigger.get(), row, kept);
    buffer_ = std::move(bigger);
    end_ = buffer_.get() + grown;
  } else {
    std::memmove(buffer_.get(), row, kept);
  }
  pos_ = buffer_.get() + kept;
  flush_at_ = buffer_.get() + kFlushBytes;
}

void CsvWriter::write(const char* data, size_t size) {
  if (size > 0 && std::fwrite(data, 1, size, file_.get()) != size) {
    throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
  }
}

void CsvWriter::write_out() {
  write(buffer_.get(), static_cast<size_t>(pos_ - buffer_.get()));
  pos_ = buffer_.get();
}

void CsvWriter::append(CsvWriter& batch) {
  write_out();
  write(batch.buffer_.get(), static_cast<size_t>(batch.pos_ - batch.buffer_.get()));
  rows_ += batch.rows_;
}

void CsvWriter::wrong_width() const {
  throw std::runtime_error(path_ + ": row " + std::to_string(rows_ + 1) + " has " + std::to_string(cells_) +
                           " cells, the header " + std::to_string(columns_) + " columns");
}

void CsvWriter::close() {
  write_out();
  if (std::fflush(file_.get()) != 0) {
    throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
  }
  file_.reset();
}

}  // namespace profilemate::exporter
