#include "csv_writer.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "atomic_output.h"
#include "helper_thread.h"

namespace profilemate::exporter {
namespace {

// Room past the flush point, for the row being written.
constexpr size_t kSlackBytes = 64 << 10;
// Written out in blocks of about this size: with the slack, a buffer is two huge pages.
constexpr size_t kFlushBytes = (4 << 20) - kSlackBytes;
// A transparent huge page (x86-64, Arm64 with 4 KiB pages).
constexpr size_t kHugePage = 2 << 20;

}  // namespace

// Writes one block at a time to the file, on a helper thread.
class CsvWriter::BackgroundWriter {
 public:
  explicit BackgroundWriter(const std::string& path) : output_(path) {}

  // Waits for the previous block, then starts writing [data, data + size), which must stay
  // untouched until the next call or wait(). Throws naming the file if a write failed.
  void write(const char* data, size_t size) {
    helper_.start([this, data, size] { output_.write(data, size); });
  }
  void wait() { helper_.wait(); }
  void close() {
    wait();
    output_.commit();
  }

 private:
  AtomicOutput output_;
  HelperThread helper_;  // last: stops before the file closes
};

CsvWriter::~CsvWriter() = default;

void CsvWriter::HugePagesDelete::operator()(char* buffer) const {
  ::operator delete[](buffer, std::align_val_t{kHugePage});
}

CsvWriter::Buffer CsvWriter::huge_pages(size_t size) {
  size = (size + kHugePage - 1) / kHugePage * kHugePage;
  auto* buffer = static_cast<char*>(::operator new[](size, std::align_val_t{kHugePage}));
  ::madvise(buffer, size, MADV_HUGEPAGE);  // a hint: where refused, small pages
  return Buffer(buffer);
}

CsvWriter::CsvWriter(std::string path, size_t columns)
    : path_(std::move(path)),
      buffer_(huge_pages(kFlushBytes + kSlackBytes)),
      pos_(buffer_.get()),
      end_(pos_ + kFlushBytes + kSlackBytes),
      flush_at_(pos_ + kFlushBytes),
      columns_(columns) {}

CsvWriter::CsvWriter(std::string path, std::span<const std::string_view> columns)
    : CsvWriter(std::move(path), columns.size()) {
  file_ = std::make_unique<BackgroundWriter>(path_);
  for (const std::string_view column : columns) text(column);
  end_row();
  rows_ = 0;
}

CsvWriter& CsvWriter::text(std::string_view value) {
  const bool formula = starts_formula(value);
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    char* at = room(value.size() + 1);
    if (formula) *at++ = '\'';
    return cell(std::copy(value.begin(), value.end(), at));
  }
  char* at = room(2 * value.size() + 3);
  *at++ = '"';
  if (formula) *at++ = '\'';
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
  // A file's writer writes out the whole blocks before the row being written (a row larger than
  // the slack); a batch keeps everything.
  const char* row = buffer_.get();
  if (file_) {
    const char* row_start = pos_;
    while (row_start > buffer_.get() && row_start[-1] != '\n') --row_start;
    row += static_cast<size_t>(row_start - buffer_.get()) / AtomicOutput::kDirectBlock *
           AtomicOutput::kDirectBlock;
    file_->write(buffer_.get(), static_cast<size_t>(row - buffer_.get()));
    file_->wait();
  }
  const auto kept = static_cast<size_t>(pos_ - row);
  const auto capacity = static_cast<size_t>(end_ - buffer_.get());
  if (kept + size > capacity || !file_) {
    const size_t grown = std::max(2 * capacity, kept + size + kSlackBytes);
    Buffer bigger = huge_pages(grown);
    std::memcpy(bigger.get(), row, kept);
    buffer_ = std::move(bigger);
    spare_.reset();  // written: a new one is made the size of the new buffer
    end_ = buffer_.get() + grown;
  } else {
    std::memmove(buffer_.get(), row, kept);
  }
  pos_ = buffer_.get() + kept;
  flush_at_ = buffer_.get() + kFlushBytes;
}

void CsvWriter::write_out(bool all) {
  const auto capacity = static_cast<size_t>(end_ - buffer_.get());
  const auto size = static_cast<size_t>(pos_ - buffer_.get());
  const size_t whole = all ? size : size / AtomicOutput::kDirectBlock * AtomicOutput::kDirectBlock;
  file_->write(buffer_.get(), whole);  // waits for the spare's block first
  if (!spare_) spare_ = huge_pages(capacity);
  std::memcpy(spare_.get(), buffer_.get() + whole, size - whole);  // not being written
  std::swap(buffer_, spare_);
  pos_ = buffer_.get() + (size - whole);
  end_ = buffer_.get() + capacity;
  flush_at_ = buffer_.get() + kFlushBytes;
}

void CsvWriter::append(const CsvWriter& batch) {
  // Copied: the batch is the caller's again at once, and the blocks written stay large.
  const auto size = static_cast<size_t>(batch.pos_ - batch.buffer_.get());
  if (file_ && static_cast<size_t>(end_ - pos_) <= size) write_out();  // not a wait in make_room
  std::memcpy(room(size), batch.buffer_.get(), size);
  pos_ += size;
  rows_ += batch.rows_;
  if (file_ && pos_ >= flush_at_) write_out();
}

void CsvWriter::wrong_width() const {
  throw std::runtime_error(path_ + ": row " + std::to_string(rows_ + 1) + " has " + std::to_string(cells_) +
                           " cells, the header " + std::to_string(columns_) + " columns");
}

void CsvWriter::close() {
  write_out(true);
  file_->close();
  file_.reset();
}

}  // namespace profilemate::exporter
