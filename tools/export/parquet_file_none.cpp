// ParquetFile in a build without Arrow: none can be opened.
#include <stdexcept>

#include "parquet_file.h"

namespace profilemate::exporter {

bool parquet_supported() {
  return false;
}

std::unique_ptr<ParquetFile> open_parquet_file(const std::string& /*path*/,
                                               std::span<const ColumnInfo> /*columns*/) {
  throw std::runtime_error(kNoParquetSupport);
}

}  // namespace profilemate::exporter
