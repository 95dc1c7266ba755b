#include "sorted_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace profilemate::exporter {
namespace {

constexpr size_t kRunBufferBytes = 1 << 20;

[[noreturn]] void fail(const std::string& what, const std::string& dir) {
  throw std::runtime_error("cannot " + what + " a sort run in " + dir + ": " + std::strerror(errno));
}

}  // namespace

RunFile::RunFile(const std::string& dir, bool buffered) : dir_(dir) {
  // O_TMPFILE: the file has no name from the start, so no run outlives the export.
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {  // a file system without O_TMPFILE
    std::string name = dir + "/.profilemate-sort-XXXXXX";
    fd = ::mkostemp(name.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(name.c_str());
  }
  if (fd < 0) fail("create", dir);
  file_.reset(::fdopen(fd, "w+b"));
  if (!file_) {
    ::close(fd);
    fail("create", dir);
  }
  if (buffered) {
    std::setvbuf(file_.get(), nullptr, _IOFBF, kRunBufferBytes);
  } else {
    std::setvbuf(file_.get(), nullptr, _IONBF, 0);
  }
}

void RunFile::write(const void* data, size_t size) {
  if (size == 0) return;  // an empty vector's data() may be null, which fwrite must not get
  if (std::fwrite(data, 1, size, file_.get()) != size) fail("write", dir_);
}

void RunFile::rewind() {
  if (std::fflush(file_.get()) != 0 || std::fseek(file_.get(), 0, SEEK_SET) != 0) fail("write", dir_);
}

bool RunFile::read(void* data, size_t size) {
  const size_t got = std::fread(data, 1, size, file_.get());
  if (got == size) return true;
  if (got == 0 && std::feof(file_.get())) return false;
  fail("read", dir_);
}

SpillingSink* SortMemory::largest() const {
  SpillingSink* largest = nullptr;
  SpillingSink* largest_first = nullptr;  // the largest of those that do not spill last
  for (SpillingSink* sink : sinks_) {
    if (sink->memory_bytes() == 0) continue;
    if (largest == nullptr || sink->memory_bytes() > largest->memory_bytes()) largest = sink;
    if (!sink->spills_last() &&
        (largest_first == nullptr || sink->memory_bytes() > largest_first->memory_bytes())) {
      largest_first = sink;
    }
  }
  // Runs of a sixteenth of the bound are still long enough to merge cheaply.
  if (largest_first != nullptr && largest_first->memory_bytes() >= limit_ / 16) return largest_first;
  return largest;
}

bool SortMemory::reserve(const SpillingSink& sink, size_t bytes) {
  while (used_ + bytes > limit_) {
    SpillingSink* victim = largest();
    if (victim == nullptr || victim == &sink) return false;
    victim->spill();
  }
  used_ += bytes;
  return true;
}

}  // namespace profilemate::exporter
