#include "log_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "process_facts.h"
#include "profilemate.npb.h"
#include "record_encoder.h"
#include "text.h"

namespace profilemate::recorder {

LogFile::LogFile(UniqueFd fd, std::string path, size_t buffer_bytes, uint64_t max_file_bytes,
                 uint64_t time_base_ns)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      buffer_(std::make_unique<uint8_t[]>(buffer_bytes)),
      capacity_(buffer_bytes),
      max_file_bytes_(max_file_bytes),
      time_base_ns_(time_base_ns) {}

bool LogFile::append(uint32_t field_number, const pb_msgdesc_t* fields, const void* message) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const size_t n = encode_record(buffer_.get() + used_, capacity_ - used_, field_number, fields, message);
    if (n != 0) {
      used_ += n;
      return true;
    }
    if (used_ == 0) return false;  // does not fit even in an empty buffer
    write_out();
  }
  return false;
}

void LogFile::write_out() {
  if (max_file_bytes_ != 0 && !failed_ && bytes_written_ + used_ > max_file_bytes_) {
    stop_at_limit();
    return;
  }
  write_bytes(used_);
  used_ = 0;
}

void LogFile::write_bytes(size_t count) {
  size_t done = 0;
  while (done < count && !failed_) {
    const ssize_t n = ::write(fd_.get(), buffer_.get() + done, count - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      failed_ = true;
      std::fprintf(stderr,
                   "[ProfileMate] cannot write %s (%s): recording stops here for this process; "
                   "the application is not affected and what was written stays readable\n",
                   path_.c_str(), n < 0 ? std::strerror(errno) : "no progress");
    }
  }
  bytes_written_ += done;
}

void LogFile::stop_at_limit() {
  char message[160];
  std::snprintf(message, sizeof message,
                "the log reached its size limit (PROFILEMATE_MAX_LOG_MB=%llu): nothing after this was "
                "recorded for this process",
                static_cast<unsigned long long>(max_file_bytes_ >> 20));
  std::fprintf(stderr, "[ProfileMate] %s: %s; the application is not affected\n", path_.c_str(), message);
  profilemate_Notice notice = profilemate_Notice_init_zero;
  notice.t_ns = realtime_ns() > time_base_ns_ ? realtime_ns() - time_base_ns_ : 0;
  notice.severity = profilemate_Notice_Severity_DEGRADED;
  copy_utf8(notice.source, sizeof notice.source, "recorder");
  copy_utf8(notice.message, sizeof notice.message, message);
  used_ = encode_record(buffer_.get(), capacity_, profilemate_Record_notice_tag, profilemate_Notice_fields,
                        &notice);
  write_bytes(used_);
  used_ = 0;
  failed_ = true;
}

}  // namespace profilemate::recorder
