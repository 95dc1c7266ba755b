#include "log_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "process_facts.h"
#include "record_encoder.h"
#include "text.h"

namespace profilemate::recorder {
namespace {

// Level 1: the writer's cost per event stays small; higher levels gain little on these records
// (bench/recorder_bench.cpp, BM_WriterEncodeCompressAndWrite).
constexpr int kZstdLevel = 1;
// Disk space kept allocated past the end of the log (fallocate, the file's size unchanged) so that
// a closing notice still fits when the disk fills: one Notice record, compressed or not.
constexpr off_t kNoticeReserve = 4096;

}  // namespace

void LogFile::CompressorDeleter::operator()(ZSTD_CCtx_s* context) const {
  ZSTD_freeCCtx(context);
}

LogFile::LogFile(UniqueFd fd, std::string path, size_t buffer_bytes, uint64_t max_file_bytes,
                 uint64_t time_base_ns, bool compress)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      buffer_(std::make_unique<uint8_t[]>(buffer_bytes)),
      capacity_(buffer_bytes),
      max_file_bytes_(max_file_bytes),
      time_base_ns_(time_base_ns) {
  if (!compress) return;
  compressor_.reset(ZSTD_createCCtx());
  // A checksum per frame lets the reader tell a damaged frame from a good one.
  if (compressor_ == nullptr ||
      ZSTD_isError(ZSTD_CCtx_setParameter(compressor_.get(), ZSTD_c_compressionLevel, kZstdLevel)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(compressor_.get(), ZSTD_c_checksumFlag, 1))) {
    compressor_.reset();
    std::fprintf(stderr, "[ProfileMate] cannot set up zstd compression: %s is written uncompressed\n",
                 path_.c_str());
    return;
  }
  frame_capacity_ = ZSTD_compressBound(buffer_bytes);
  frame_ = std::make_unique<uint8_t[]>(frame_capacity_);
}

LogFile::~LogFile() = default;

void LogFile::write_header(profilemate_Header& header) {
  header.compression =
      compressed() ? profilemate_Compression_COMPRESSION_ZSTD : profilemate_Compression_COMPRESSION_NONE;
  const size_t n = encode_record(buffer_.get(), capacity_, profilemate_Record_header_tag, &header);
  write_bytes({buffer_.get(), n});
}

bool LogFile::append(uint32_t field_number, const void* message) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const size_t n = encode_record(buffer_.get() + used_, capacity_ - used_, field_number, message);
    if (n != 0) {
      used_ += n;
      return true;
    }
    // Malformed, or does not fit even in an empty buffer.
    if (used_ == 0 || capacity_ - used_ >= max_record_size(field_number)) return false;
    write_out();
  }
  return false;
}

void LogFile::write_out() {
  if (used_ == 0) return;
  const Bytes bytes = pending_bytes();
  if (max_file_bytes_ != 0 && !failed_ && bytes_written_ + bytes.size > max_file_bytes_) {
    stop_at_limit();
    return;
  }
  write_bytes(bytes);
  used_ = 0;
}

LogFile::Bytes LogFile::pending_bytes() {
  if (!compressed() || failed_) return {buffer_.get(), used_};
  const size_t n = ZSTD_compress2(compressor_.get(), frame_.get(), frame_capacity_, buffer_.get(), used_);
  if (ZSTD_isError(n)) {
    fail(ZSTD_getErrorName(n));
    return {frame_.get(), 0};
  }
  return {frame_.get(), n};
}

void LogFile::write_bytes(Bytes bytes) {
  if (failed_) return;
  const uint64_t start = bytes_written_;
  int error = reserve(bytes.size);
  size_t done = 0;
  while (error == 0 && done < bytes.size && !failed_) {
    const ssize_t n = ::write(fd_.get(), bytes.data + done, bytes.size - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == ENOSPC || errno == EDQUOT)) {
      error = errno;
    } else {
      fail(n < 0 ? std::strerror(errno) : "no progress");
    }
  }
  bytes_written_ += done;
  if (error == 0) return;
  if (closing_) {
    failed_ = true;  // not even the notice fits
  } else {
    stop_at_disk_full(start, error);
  }
}

int LogFile::reserve(size_t size) {
  if (!reserving_) return 0;
  if (::fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(bytes_written_),
                  static_cast<off_t>(size) + kNoticeReserve) == 0) {
    return 0;
  }
  if (errno == ENOSPC || errno == EDQUOT) return errno;
  reserving_ = false;  // not supported here: the notice goes in only if the disk has room left
  return 0;
}

void LogFile::fail(const char* why) {
  failed_ = true;
  std::fprintf(stderr,
               "[ProfileMate] cannot write %s (%s): recording stops here for this process; "
               "the application is not affected and what was written stays readable\n",
               path_.c_str(), why);
}

void LogFile::stop_at_limit() {
  char message[160];
  std::snprintf(message, sizeof message,
                "the log reached its size limit (PROFILEMATE_MAX_LOG_MB=%llu): nothing after this was "
                "recorded for this process",
                static_cast<unsigned long long>(max_file_bytes_ >> 20));
  std::fprintf(stderr, "[ProfileMate] %s: %s; the application is not affected\n", path_.c_str(), message);
  close_with_notice(message);
}

void LogFile::stop_at_disk_full(uint64_t chunk_start, int error) {
  char message[160];
  std::snprintf(message, sizeof message, "%s (%s): nothing after this was recorded for this process",
                kDiskFullNotice, std::strerror(error));
  std::fprintf(stderr, "[ProfileMate] %s: %s; the application is not affected\n", path_.c_str(), message);
  if (bytes_written_ == 0 || chunk_start == 0) {  // no header: nothing a notice could follow
    failed_ = true;
    return;
  }
  // A partly written chunk is cut off, so that the notice follows whole records; its space is
  // what the notice goes into when the reserve could not be kept.
  if (bytes_written_ != chunk_start && (::ftruncate(fd_.get(), static_cast<off_t>(chunk_start)) != 0 ||
                                        ::lseek(fd_.get(), static_cast<off_t>(chunk_start), SEEK_SET) < 0)) {
    failed_ = true;
    return;
  }
  bytes_written_ = chunk_start;
  reserving_ = false;  // the notice goes into the space reserved before
  close_with_notice(message);
}

void LogFile::close_with_notice(const char* message) {
  failed_ = false;  // for this last write only
  profilemate_Notice notice = profilemate_Notice_init_zero;
  notice.t_ns = realtime_ns() > time_base_ns_ ? realtime_ns() - time_base_ns_ : 0;
  notice.severity = profilemate_Notice_Severity_DEGRADED;
  copy_utf8(notice.source, sizeof notice.source, "recorder");
  copy_utf8(notice.message, sizeof notice.message, message);
  used_ = encode_record(buffer_.get(), capacity_, profilemate_Record_notice_tag, &notice);
  closing_ = true;
  write_bytes(pending_bytes());
  used_ = 0;
  failed_ = true;
}

}  // namespace profilemate::recorder
