// The writer thread's side of a process log: an output buffer of framed records and the file
// it is written to. Only the writer thread touches it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "profilemate.npb.h"
#include "unique_fd.h"

struct ZSTD_CCtx_s;

namespace profilemate::recorder {

// How the Notice that closes a log cut short by a full disk begins, for readers to recognise.
inline constexpr const char* kDiskFullNotice = "cut short: disk full";

class LogFile {
 public:
  // `max_file_bytes` (0: no limit) caps the file: a profiler must not fill the disk of the host
  // it watches. `time_base_ns` is the log's time base, for the notice written at the cap.
  // `compress`: the records after the header go to the file as zstd frames, one per write_out.
  LogFile(UniqueFd fd, std::string path, size_t buffer_bytes, uint64_t max_file_bytes = 0,
          uint64_t time_base_ns = 0, bool compress = false);
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;
  ~LogFile();

  // Writes the log's first record at once and uncompressed, so that any reader can tell what
  // follows; sets `header.compression` to say it.
  void write_header(profilemate_Header& header);
  // Encodes one record (a Record field number and its nanopb struct) into the buffer, writing
  // the buffer out first if it is nearly full. Returns false if the record cannot be encoded.
  bool append(uint32_t field_number, const void* message);
  // Writes the buffer to the file (as one zstd frame when compressing). After the first failed
  // write (disk full, ...) or at the size limit the log goes quiet: one stderr line says so, and
  // records are discarded instead of blocking anyone. At the limit, and when the disk is full
  // (space for it is kept allocated past the end of the log), a last Notice record says so in the
  // log too.
  void write_out();

  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] bool compressed() const { return compressor_ != nullptr; }
  [[nodiscard]] uint64_t bytes_written() const { return bytes_written_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  struct CompressorDeleter {
    void operator()(ZSTD_CCtx_s* context) const;
  };
  struct Bytes {
    const uint8_t* data;
    size_t size;
  };

  UniqueFd fd_;
  std::string path_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t capacity_;
  uint64_t max_file_bytes_;
  uint64_t time_base_ns_;
  std::unique_ptr<ZSTD_CCtx_s, CompressorDeleter> compressor_;
  std::unique_ptr<uint8_t[]> frame_;  // the buffer compressed
  size_t frame_capacity_ = 0;
  size_t used_ = 0;
  uint64_t bytes_written_ = 0;
  bool failed_ = false;
  bool reserving_ = true;  // false where the file system cannot reserve (fallocate)
  bool closing_ = false;   // writing the last notice

  // The buffer as it goes to the file: compressed into frame_, or as it is. Empty on failure.
  Bytes pending_bytes();
  void write_bytes(Bytes bytes);
  // Reserves room for `size` bytes and a notice; returns ENOSPC or EDQUOT when the disk is full.
  int reserve(size_t size);
  void stop_at_limit();
  // The write that started at `chunk_start` failed with `error` (ENOSPC, EDQUOT).
  void stop_at_disk_full(uint64_t chunk_start, int error);
  void close_with_notice(const char* message);
  void fail(const char* why);
};

}  // namespace profilemate::recorder
