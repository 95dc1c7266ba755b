#include "session_dir.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace profilemate::recorder {
namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

// Opens `path` as a directory we own, creating missing components with mode 0700.
UniqueFd open_private_dir(const std::string& path, std::string& error) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      error = "cannot create directory " + prefix + ": " + errno_text(errno);
      return {};
    }
    if (slash == std::string::npos) break;
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    error = (errno == ELOOP || errno == ENOTDIR)
                ? path + " is a symbolic link or not a directory: refusing to write profiles there"
                : "cannot open directory " + path + ": " + errno_text(errno);
    return {};
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    error = "cannot stat " + path + ": " + errno_text(errno);
    return {};
  }
  if (st.st_uid != ::geteuid()) {
    error = path + " is owned by uid " + std::to_string(st.st_uid) + ", not by you (uid " +
            std::to_string(::geteuid()) +
            "): refusing to write profiles there; set VLLM_PROFILING_DIR to a directory you own";
    return {};
  }
  return fd;
}

std::string new_session_name() {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &utc);
  uint32_t random = 0;
  if (::getrandom(&random, sizeof random, 0) != sizeof random) {
    random = static_cast<uint32_t>(::getpid()) * 2654435761u ^ static_cast<uint32_t>(now);
  }
  char name[64];
  std::snprintf(name, sizeof name, "session_%s_%06x", stamp, random & 0xffffffu);
  return name;
}

std::string base_name(const std::string& path) {
  const size_t end = path.find_last_not_of('/');
  if (end == std::string::npos) return path;
  const size_t slash = path.rfind('/', end);
  return path.substr(slash == std::string::npos ? 0 : slash + 1,
                     end - (slash == std::string::npos ? 0 : slash + 1) + 1);
}

}  // namespace

SessionLogResult open_session_log(const std::string& session_dir, const std::string& profiling_dir,
                                  pid_t pid) {
  SessionLogResult result;
  std::string& error = result.error;
  SessionLog& log = result.log;
  UniqueFd dir_fd;
  if (!session_dir.empty()) {
    log.dir_path = session_dir;
    dir_fd = open_private_dir(session_dir, error);
    if (!dir_fd.valid()) return result;
  } else {
    UniqueFd parent = open_private_dir(profiling_dir, error);
    if (!parent.valid()) return result;
    for (int attempt = 0; attempt < 16 && !dir_fd.valid(); ++attempt) {
      const std::string name = new_session_name();
      if (::mkdirat(parent.get(), name.c_str(), 0700) != 0) {
        if (errno == EEXIST) continue;
        error = "cannot create a session directory in " + profiling_dir + ": " + errno_text(errno);
        return result;
      }
      log.dir_path = profiling_dir;
      log.dir_path.append("/").append(name);
      dir_fd = open_private_dir(log.dir_path, error);
      if (!dir_fd.valid()) return result;
    }
    if (!dir_fd.valid()) {
      error = "cannot find a free session directory name in " + profiling_dir;
      return result;
    }
    // Children inherit the environment, not our state: this is how they join the session.
    ::setenv("PROFILEMATE_SESSION_DIR", log.dir_path.c_str(), 1);
  }
  log.session_id = base_name(log.dir_path);
  for (int suffix = 0; suffix < 1000; ++suffix) {
    const std::string name =
        "process_" + std::to_string(pid) + (suffix == 0 ? "" : "_" + std::to_string(suffix)) + ".pmlog";
    const int fd =
        ::openat(dir_fd.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      log.log_fd.reset(fd);
      log.log_path = log.dir_path + "/" + name;
      return result;
    }
    if (errno != EEXIST) {
      error = "cannot create " + log.dir_path + "/" + name + ": " + errno_text(errno);
      return result;
    }
  }
  error = "cannot find a free log file name in " + log.dir_path;
  return result;
}

}  // namespace profilemate::recorder
