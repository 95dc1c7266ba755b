// Opens an output file safely where other users can write too (a shared session directory):
// every file the export writes (CSV, metadata.json, the Perfetto trace) goes through here.
#pragma once

#include <cstddef>
#include <cstdio>
#include <memory>
#include <string>

#include "pmlog_reader.h"

namespace profilemate::exporter {

// An output file written under a fresh temporary name in its directory (created exclusively,
// never through a link) and renamed to its name when complete: a link or another user's file
// planted under that name is replaced, never written through or truncated, and a failed export
// leaves the previous complete file (or none), never a partial one. The file takes the mode of
// its directory without the execute bits (a 0700 session directory gives 0600 files), narrowed by
// the umask.
class AtomicOutput {
 public:
  // Throws std::runtime_error naming `path` when it cannot be created, or when its directory is
  // a symbolic link that another user owns.
  explicit AtomicOutput(std::string path);
  // Not committed: the temporary file is removed.
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  // Whole blocks: an address and a size in multiples of this are written past the page cache.
  static constexpr size_t kDirectBlock = 4096;

  [[nodiscard]] std::FILE* file() const { return file_.get(); }
  // Writes [data, data + size) after whatever went through file(). Whole blocks (the address, the
  // size and the file's offset multiples of kDirectBlock) bypass the page cache (O_DIRECT) where
  // the file system allows:
  // for a large output the kernel's copying into the cache costs more than formatting the bytes,
  // and nothing reads them back soon. Anything else, or where O_DIRECT is refused, is written
  // through the cache. Throws as fail() does.
  void write(const char* data, size_t size);
  [[nodiscard]] const std::string& path() const { return path_; }
  // Closes the file and gives it its name. Throws std::runtime_error naming it when anything did
  // not reach it. A file it replaces is freed on a thread of its own (wait_for_replaced_files).
  void commit();
  // Waits until the files that commits replaced are freed: at the end of an export, so that its
  // work ends with it.
  static void wait_for_replaced_files();
  // Throws "cannot write PATH: <errno's text>".
  [[noreturn]] void fail() const;

 private:
  struct Closer {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  std::string path_;
  std::string name_;
  std::string temporary_;
  reader::FileDescriptor dir_;
  std::unique_ptr<std::FILE, Closer> file_;
  enum class Direct { kOff, kOn, kRefused } direct_ = Direct::kOff;
};

}  // namespace profilemate::exporter
