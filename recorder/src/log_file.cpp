#include "log_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "record_encoder.h"

namespace profilemate::recorder {

LogFile::LogFile(UniqueFd fd, std::string path, size_t buffer_bytes)
    : fd_(std::move(fd)),
      path_(std::move(path)),
      buffer_(std::make_unique<uint8_t[]>(buffer_bytes)),
      capacity_(buffer_bytes) {}

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
  size_t done = 0;
  while (done < used_ && !failed_) {
    const ssize_t n = ::write(fd_.get(), buffer_.get() + done, used_ - done);
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
  used_ = 0;
}

}  // namespace profilemate::recorder
