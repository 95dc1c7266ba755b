#include "atomic_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>

#include "helper_thread.h"
#include "no_destructor.h"
#include "session_dir.h"

namespace profilemate::exporter {
namespace {

// A name no one can have prepared: random, so a link cannot be planted under it in advance.
std::string temporary_name(const std::string& name) {
  std::random_device device;
  uint64_t random = uint64_t{device()} << 32 | device();
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string suffix;
  for (int i = 0; i < 10; ++i, random /= 36) suffix += kDigits[random % 36];
  return "." + name + "." + suffix + ".partial";
}

// Replacing a large file frees its blocks inside rename(2), which on ext4 mounted with `discard`
// takes as long as writing a good part of the file. So the replaced file is kept open across the
// rename and closed here, on a thread of its own, while the export goes on. Never destroyed: a
// child forked after an export has the object but not its thread, and must not join it at exit.
HelperThread& releaser() {
  static recorder::NoDestructor<HelperThread> thread;
  return thread.get();
}

}  // namespace

void AtomicOutput::wait_for_replaced_files() {
  releaser().wait();
}

AtomicOutput::AtomicOutput(std::string path) : path_(std::move(path)) {
  const size_t slash = path_.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  name_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  // The directory's path is walked as the recorder walks a session's: a link on the way only when
  // nobody else can have planted it, a link as the directory itself only when it is the caller's.
  std::string error;
  dir_ = reader::FileDescriptor(
      recorder::open_dir(dir, {.create_mode = 0, .owned = false, .own_link_at_end = true}, error).release());
  if (dir_.get() < 0) throw std::runtime_error("cannot create " + path_ + ": " + error);
  struct stat info {};
  if (::fstat(dir_.get(), &info) != 0)
    throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
  const mode_t mode = info.st_mode & 0666;
  int fd = -1;
  for (int attempt = 0; fd < 0 && attempt < 100; ++attempt) {
    temporary_ = temporary_name(name_);
    fd = ::openat(dir_.get(), temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
  file_.reset(::fdopen(fd, "wb"));
  if (!file_) {
    const int error = errno;
    ::close(fd);
    ::unlinkat(dir_.get(), temporary_.c_str(), 0);
    throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(error));
  }
}

AtomicOutput::~AtomicOutput() {
  if (file_) {
    file_.reset();
    ::unlinkat(dir_.get(), temporary_.c_str(), 0);
  }
}

void AtomicOutput::commit() {
  const bool closed = std::fclose(file_.release()) == 0;
  const int error = errno;
  // Whatever is there now (a file, a link, nothing): held, so that the rename does not free it.
  reader::FileDescriptor replaced(::openat(dir_.get(), name_.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!closed || ::renameat(dir_.get(), temporary_.c_str(), dir_.get(), name_.c_str()) != 0) {
    const int reason = closed ? errno : error;
    ::unlinkat(dir_.get(), temporary_.c_str(), 0);
    throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(reason));
  }
  if (replaced.get() >= 0) {
    releaser().post([file = std::make_shared<reader::FileDescriptor>(std::move(replaced))] {
      *file = reader::FileDescriptor();  // the last reference: the file system frees the blocks now
    });
  }
}

void AtomicOutput::write(const char* data, size_t size) {
  if (std::fflush(file_.get()) != 0) fail();
  const int fd = ::fileno(file_.get());
  const auto set_direct = [&](bool on) {
    const int flags = ::fcntl(fd, F_GETFL);
    const bool done = flags >= 0 && ::fcntl(fd, F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) == 0;
    if (!on && !done) fail();  // the next write would fail for want of alignment
    direct_ = done ? (on ? Direct::kOn : Direct::kOff) : Direct::kRefused;
  };
  while (size > 0) {
    const off_t offset = ::lseek(fd, 0, SEEK_CUR);
    const bool whole_blocks = reinterpret_cast<uintptr_t>(data) % kDirectBlock == 0 &&
                              size % kDirectBlock == 0 && offset >= 0 &&
                              static_cast<uint64_t>(offset) % kDirectBlock == 0;
    if (whole_blocks && direct_ == Direct::kOff) set_direct(true);
    if (!whole_blocks && direct_ == Direct::kOn) set_direct(false);
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && errno == EINVAL && direct_ == Direct::kOn) {
      set_direct(false);  // refused at the write (some file systems only say so there)
      direct_ = Direct::kRefused;
      continue;
    }
    if (written == 0) errno = EIO;  // no progress and no reason: do not spin
    if (written <= 0) fail();
    data += written;
    size -= static_cast<size_t>(written);
  }
}

void AtomicOutput::fail() const {
  throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
}

}  // namespace profilemate::exporter
