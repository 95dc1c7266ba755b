// ParquetFile through Apache Arrow's C++ Parquet writer (the libraries of PyPI's pyarrow wheel).
#include <arrow/api.h>
#include <arrow/io/interfaces.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "atomic_output.h"
#include "parquet_file.h"
#include "parquet_table.h"

namespace profilemate::exporter {
namespace {

// Arrow's output stream over an AtomicOutput: the file is created and named as every other output
// of the export is.
class AtomicStream : public arrow::io::OutputStream {
 public:
  explicit AtomicStream(AtomicOutput& output) : output_(output) {}
  using arrow::io::OutputStream::Write;
  arrow::Status Write(const void* data, int64_t bytes) override {
    if (std::fwrite(data, 1, static_cast<size_t>(bytes), output_.file()) != static_cast<size_t>(bytes))
      return arrow::Status::IOError("cannot write ", output_.path(), ": ", std::strerror(errno));
    position_ += bytes;
    return arrow::Status::OK();
  }
  [[nodiscard]] arrow::Result<int64_t> Tell() const override { return position_; }
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  [[nodiscard]] bool closed() const override { return closed_; }

 private:
  AtomicOutput& output_;
  int64_t position_ = 0;
  bool closed_ = false;
};

std::shared_ptr<arrow::DataType> arrow_type(ColumnType type) {
  switch (type) {
    case ColumnType::kInt64: return arrow::int64();
    case ColumnType::kDouble: return arrow::float64();
    // Roles, phases, descriptors, hosts: few distinct values in many rows.
    case ColumnType::kString: return arrow::dictionary(arrow::int32(), arrow::utf8());
    case ColumnType::kBool: return arrow::boolean();
  }
  return nullptr;
}

class ArrowParquetFile final : public ParquetFile {
 public:
  ArrowParquetFile(const std::string& path, std::span<const ColumnInfo> columns)
      : output_(path), stream_(std::make_shared<AtomicStream>(output_)) {
    arrow::FieldVector fields;
    for (const ColumnInfo& column : columns)
      fields.push_back(arrow::field(std::string(column.name), arrow_type(column.type)));
    schema_ = arrow::schema(std::move(fields));
    parquet::WriterProperties::Builder builder;
    // zstd: smaller files than snappy at about its decoding speed; every engine reads it.
    builder.compression(parquet::Compression::ZSTD)
        ->max_row_group_length(static_cast<int64_t>(ParquetTable::kRowGroupRows))
        ->created_by("profilemate " PROFILEMATE_VERSION)
        // Dictionaries for the strings only: numbers (timestamps, durations) rarely repeat, and
        // trying a dictionary on each of their pages took a third of the writing time.
        ->disable_dictionary();
    for (const ColumnInfo& column : columns) {
      if (column.type == ColumnType::kString) builder.enable_dictionary(std::string(column.name));
    }
    const std::shared_ptr<parquet::WriterProperties> properties = builder.build();
    // The Arrow schema travels in the file: pyarrow reads the strings back as dictionaries.
    const std::shared_ptr<parquet::ArrowWriterProperties> arrow_properties =
        parquet::ArrowWriterProperties::Builder().store_schema()->set_use_threads(true)->build();
    writer_ = check(parquet::arrow::FileWriter::Open(*schema_, arrow::default_memory_pool(), stream_,
                                                     properties, arrow_properties));
  }

  void write_row_group(std::span<const ColumnValues> columns, size_t rows) override {
    const auto length = static_cast<int64_t>(rows);
    arrow::ArrayVector arrays;
    for (size_t i = 0; i < columns.size(); ++i) {
      const ColumnValues& column = columns[i];
      const std::shared_ptr<arrow::Buffer> validity = bitmap(column.valid, true);
      const int64_t nulls = validity ? length - std::count(column.valid.begin(), column.valid.end(), 1) : 0;
      switch (column.type) {
        case ColumnType::kInt64:
          arrays.push_back(std::make_shared<arrow::Int64Array>(length, arrow::Buffer::Wrap(column.integers),
                                                               validity, nulls));
          break;
        case ColumnType::kDouble:
          arrays.push_back(std::make_shared<arrow::DoubleArray>(length, arrow::Buffer::Wrap(column.reals),
                                                                validity, nulls));
          break;
        case ColumnType::kBool:
          arrays.push_back(
              std::make_shared<arrow::BooleanArray>(length, bitmap(column.booleans, false), validity, nulls));
          break;
        case ColumnType::kString: {
          arrow::StringBuilder dictionary;
          check(dictionary.AppendValues(column.dictionary));
          const auto indices = std::make_shared<arrow::Int32Array>(
              length, arrow::Buffer::Wrap(column.indices), validity, nulls);
          arrays.push_back(check(arrow::DictionaryArray::FromArrays(
              schema_->field(static_cast<int>(i))->type(), indices, check(dictionary.Finish()))));
          break;
        }
      }
    }
    // A buffered row group written as one batch: its columns are encoded and compressed on
    // Arrow's threads (use_threads), in parallel.
    check(writer_->NewBufferedRowGroup());
    check(writer_->WriteRecordBatch(*arrow::RecordBatch::Make(schema_, length, arrays)));
  }

  // One byte per row to a bitmap (Arrow's validity and booleans); null when every byte is set and
  // that is allowed (a validity without nulls).
  std::shared_ptr<arrow::Buffer> bitmap(const std::vector<uint8_t>& bytes, bool null_when_all_set) const {
    if (null_when_all_set && std::find(bytes.begin(), bytes.end(), 0) == bytes.end()) return nullptr;
    std::shared_ptr<arrow::Buffer> bits = check(arrow::AllocateBitmap(static_cast<int64_t>(bytes.size())));
    uint8_t* out = bits->mutable_data();
    std::fill_n(out, bits->size(), 0);
    for (size_t i = 0; i < bytes.size(); ++i)
      out[i / 8] |= static_cast<uint8_t>((bytes[i] != 0 ? 1 : 0) << (i % 8));
    return bits;
  }

  void close() override {
    check(writer_->Close());
    output_.commit();
    // The plugin has its own copy of AtomicOutput, whose releases the export's wait does not see.
    AtomicOutput::wait_for_replaced_files();
  }

 private:
  void check(const arrow::Status& status) const {
    if (!status.ok()) throw std::runtime_error("cannot write " + output_.path() + ": " + status.ToString());
  }
  template <typename Value>
  Value check(arrow::Result<Value> result) const {
    check(result.status());
    return std::move(result).ValueUnsafe();
  }

  AtomicOutput output_;
  std::shared_ptr<AtomicStream> stream_;
  std::shared_ptr<arrow::Schema> schema_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;  // last: closes before the file
};

}  // namespace

}  // namespace profilemate::exporter

// The plugin's entry point (OpenParquetFile).
extern "C" __attribute__((visibility("default"))) std::unique_ptr<profilemate::exporter::ParquetFile>
profilemate_open_parquet_file(const std::string& path,
                              std::span<const profilemate::exporter::ColumnInfo> columns) {
  return std::make_unique<profilemate::exporter::ArrowParquetFile>(path, columns);
}
