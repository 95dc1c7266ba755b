// Writes one RFC 4180 CSV file, fast: rows are formatted into a buffer with std::to_chars.
#pragma once

#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace profilemate::exporter {

class CsvWriter {
 public:
  // Creates (truncates) `path` and writes the header row. Throws std::runtime_error naming the
  // file if it cannot be created.
  CsvWriter(std::string path, std::span<const std::string_view> columns);
  CsvWriter(std::string path, std::initializer_list<std::string_view> columns)
      : CsvWriter(std::move(path), std::span(columns.begin(), columns.size())) {}

  CsvWriter& text(std::string_view value);
  CsvWriter& integer(uint64_t value);
  CsvWriter& signed_integer(int64_t value);
  CsvWriter& fixed(double value, int decimals);
  CsvWriter& boolean(bool value);  // True/False, as the predecessor wrote them
  CsvWriter& empty();
  // Throws std::runtime_error naming the file and the row when the row's cells are not as many as
  // the header's columns.
  void end_row();

  // Writes everything out; throws std::runtime_error naming the file on failure.
  void close();
  [[nodiscard]] uint64_t rows() const { return rows_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  void separator();
  template <typename Integer>
  CsvWriter& number(Integer value);
  void write_out();

  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::string buffer_;
  size_t columns_ = 0;
  size_t cells_ = 0;  // in the row being written
  uint64_t rows_ = 0;
};

}  // namespace profilemate::exporter
