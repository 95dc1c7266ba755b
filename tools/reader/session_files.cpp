#include "session_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

namespace profilemate::reader {

SessionDir::SessionDir(std::string path) : path_(std::move(path)) {
  dir_ = FileDescriptor(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_.get() < 0) {
    const int error = errno;
    if (error == ENOTDIR || error == ENOENT) {
      throw ReadError(path_ + ": not a directory (" + std::strerror(error) +
                      "); give the session directory that holds the *.pmlog files");
    }
    throw ReadError("cannot list " + path_ + ": " + std::strerror(error));
  }
  struct stat info {};
  if (::fstat(dir_.get(), &info) != 0) throw ReadError("cannot list " + path_ + ": " + std::strerror(errno));
  owner_ = info.st_uid;
  // The listing reads through its own descriptor: closedir closes it, ours stays open.
  const int listing = ::openat(dir_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const std::unique_ptr<DIR, int (*)(DIR*)> entries(listing < 0 ? nullptr : ::fdopendir(listing), ::closedir);
  if (!entries) {
    const int error = errno;
    if (listing >= 0) ::close(listing);
    throw ReadError("cannot list " + path_ + ": " + std::strerror(error));
  }
  static constexpr std::string_view kSuffix = ".pmlog";
  while (const dirent* entry = ::readdir(entries.get())) {
    const std::string_view name = entry->d_name;
    if (name.size() > kSuffix.size() && name.ends_with(kSuffix)) names_.emplace_back(name);
  }
  std::sort(names_.begin(), names_.end());
  if (names_.empty())
    throw ReadError(path_ + " is not a ProfileMate session: it holds no *.pmlog process logs");
}

FileDescriptor SessionDir::open_log(const std::string& name) const {
  const std::string path = path_of(name);
  struct stat info {};
  FileDescriptor file = open_regular_file(dir_.get(), name, path, O_NOFOLLOW, info);
  if (info.st_uid != owner_ && info.st_uid != ::geteuid()) {
    throw ReadError(path + ": owned by uid " + std::to_string(info.st_uid) +
                    ", neither the session directory's owner (uid " + std::to_string(owner_) +
                    ") nor you: not read, as another user may have planted it");
  }
  return file;
}

std::vector<std::string> session_log_files(const std::string& dir) {
  const SessionDir session(dir);
  std::vector<std::string> files;
  for (const std::string& name : session.log_names()) files.push_back(session.path_of(name));
  return files;
}

std::vector<std::string> session_log_files_or_empty(const std::string& dir) {
  try {
    return session_log_files(dir);
  } catch (const ReadError&) {
    return {};
  }
}

}  // namespace profilemate::reader
