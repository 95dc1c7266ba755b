// The writer thread's side of a process log: an output buffer of framed records and the file
// it is written to. Only the writer thread touches it.
#pragma once

#include <pb.h>

#include <cstdint>
#include <memory>
#include <string>

#include "unique_fd.h"

namespace profilemate::recorder {

class LogFile {
 public:
  // `max_file_bytes` (0: no limit) caps the file: a profiler must not fill the disk of the host
  // it watches. `time_base_ns` is the log's time base, for the notice written at the cap.
  LogFile(UniqueFd fd, std::string path, size_t buffer_bytes, uint64_t max_file_bytes = 0,
          uint64_t time_base_ns = 0);

  // Encodes one record into the buffer, writing the buffer out first if it is nearly full.
  // Returns false if the record cannot be encoded.
  bool append(uint32_t field_number, const pb_msgdesc_t* fields, const void* message);
  // Writes the buffer to the file. After the first failed write (disk full, ...) or at the size
  // limit the log goes quiet: one stderr line says so, and records are discarded instead of
  // blocking anyone. At the limit a last Notice record says so in the log too.
  void write_out();

  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] uint64_t bytes_written() const { return bytes_written_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  UniqueFd fd_;
  std::string path_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_;
  uint64_t max_file_bytes_;
  uint64_t time_base_ns_;
  size_t used_ = 0;
  uint64_t bytes_written_ = 0;
  bool failed_ = false;

  void write_bytes(size_t count);
  void stop_at_limit();
};

}  // namespace profilemate::recorder
