// Writes one RFC 4180 CSV file, fast: each cell is formatted with std::to_chars straight into one
// large buffer, which is written out in blocks by a thread of the writer's own while the next
// block is formatted, past the page cache where the file system allows. A writer without
// a file formats a batch of rows in memory, for the file's writer to append: batches can be formatted on
// several threads.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "number_text.h"

namespace profilemate::exporter {

class CsvWriter {
 public:
  // Creates (truncates) `path` and writes the header row. Throws std::runtime_error naming the
  // file if it cannot be created.
  CsvWriter(std::string path, std::span<const std::string_view> columns);
  CsvWriter(std::string path, std::initializer_list<std::string_view> columns)
      : CsvWriter(std::move(path), std::span(columns.begin(), columns.size())) {}
  // A batch of rows of `columns` cells, in memory; `path` names the file in messages.
  CsvWriter(std::string path, size_t columns);

  // Application text: a value a spreadsheet would run as a formula (see starts_formula) gets a
  // leading ', as OWASP advises against CSV injection. Numbers go through the numeric cells.
  CsvWriter& text(std::string_view value);
  CsvWriter& integer(uint64_t value) { return number(value); }
  // A timestamp in nanoseconds since the epoch: integer()'s digits, rendered faster for a run of
  // values of one second.
  CsvWriter& unix_ns(uint64_t value) {
    char* at = room(kMaxIntegerChars);
    return cell(unix_ns_digits_.put(at, value));
  }
  CsvWriter& signed_integer(int64_t value) { return number(value); }
  CsvWriter& fixed(double value, int decimals) {
    if (!std::isfinite(value)) return empty();
    char* at = room(kMaxFixedChars);
    return cell(fixed_chars(at, at + kMaxFixedChars, value, decimals));
  }
  // `value` in units of 10^-decimals, exactly (a nanosecond count as microseconds: decimals 3).
  CsvWriter& decimal(uint64_t value, int decimals) {
    char* at = room(kMaxDecimalChars);
    return cell(put_decimal(at, value, decimals));
  }
  CsvWriter& signed_decimal(int64_t value, int decimals) {
    char* at = room(kMaxDecimalChars + 1);
    if (value < 0) *at++ = '-';
    return cell(put_decimal(at, value < 0 ? ~static_cast<uint64_t>(value) + 1 : static_cast<uint64_t>(value),
                            decimals));
  }
  CsvWriter& boolean(bool value);  // True/False, as the predecessor wrote them
  // "No value" in a number column, spelled as the predecessor did (`None`); typed outputs write a
  // null (ParquetRows::placeholder).
  CsvWriter& placeholder(std::string_view spelling) { return text(spelling); }
  CsvWriter& empty() { return cell(room(0)); }
  // Throws std::runtime_error naming the file and the row when the row's cells are not as many as
  // the header's columns.
  void end_row() {
    if (cells_ != columns_ || cells_ == 0) wrong_width();
    // Every cell ends in a comma: the row's last one becomes the line's end.
    pos_[-1] = '\n';
    cells_ = 0;
    ++rows_;
    if (file_ && pos_ >= flush_at_) write_out();
  }

  CsvWriter(const CsvWriter&) = delete;
  CsvWriter& operator=(const CsvWriter&) = delete;
  ~CsvWriter();

  // Appends the rows of `batch` (made with the same columns); throws as close() does.
  void append(const CsvWriter& batch);
  // Forgets the rows written (a batch, to be reused).
  void clear() {
    pos_ = buffer_.get();
    rows_ = 0;
  }

  // Whether a spreadsheet would take a text cell starting so for a formula: =, +, -, @, tab, CR.
  static bool starts_formula(std::string_view value) {
    return !value.empty() && std::string_view("=+-@\t\r").find(value[0]) != std::string_view::npos;
  }

  // Writes everything out; throws std::runtime_error naming the file on failure.
  void close();
  [[nodiscard]] uint64_t rows() const { return rows_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  static constexpr size_t kMaxDecimalChars = 22;

  template <typename Integer>
  CsvWriter& number(Integer value) {
    char* at = room(kMaxIntegerChars);
    return cell(put_integer(at, value));
  }
  // Room for a cell of up to `size` characters and its comma: where it goes.
  char* room(size_t size) {
    if (static_cast<size_t>(end_ - pos_) <= size) make_room(size + 1);
    return pos_;
  }
  CsvWriter& cell(char* end) {
    *end++ = ',';
    pos_ = end;
    ++cells_;
    return *this;
  }
  void make_room(size_t size);
  // Hands the buffer's whole blocks up to pos_ (everything up to pos_ when `all`) to the
  // background writer and goes on in the spare buffer, which starts with the rest.
  void write_out(bool all = false);
  [[noreturn]] void wrong_width() const;

  class BackgroundWriter;
  // Buffers are whole huge pages and ask for transparent huge pages: a block written past the
  // page cache has its memory pinned for the write and released when it completes, page by page,
  // and a 2 MiB page is one page where 4 KiB pages are 512. They start on a block boundary, as
  // whole blocks must to bypass the page cache.
  struct HugePagesDelete {
    void operator()(char* buffer) const;
  };
  using Buffer = std::unique_ptr<char[], HugePagesDelete>;
  static Buffer huge_pages(size_t size);

  std::string path_;
  UintSharingHighDigits unix_ns_digits_;
  Buffer buffer_;
  Buffer spare_;  // the block being written, or null
  // Null for a batch. Declared after the buffers, so that it stops (finishing the block in
  // flight) before they are freed.
  std::unique_ptr<BackgroundWriter> file_;
  char* pos_ = nullptr;
  char* end_ = nullptr;
  char* flush_at_ = nullptr;
  size_t columns_ = 0;
  size_t cells_ = 0;  // in the row being written
  uint64_t rows_ = 0;
};

}  // namespace profilemate::exporter
