#include "session_dir.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <initializer_list>

namespace profilemate::recorder {
namespace {

std::string errno_text(int error) {
  return std::strerror(error);
}

// The kernel's own limit on links in one path.
constexpr int kMaxLinks = 40;

// Splits a path into its components, empty ones and "." left out.
std::deque<std::string> components(std::string_view path) {
  std::deque<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

bool trusted_owner(uid_t uid) {
  return uid == 0 || uid == ::geteuid();
}

// A link nobody else can have planted or swapped: it and its directory belong to root or the
// caller, and others cannot write that directory (or it is sticky, so they cannot replace a link
// they do not own).
bool trusted_link(int dir_fd, const struct stat& link) {
  struct stat dir {};
  if (::fstat(dir_fd, &dir) != 0) return false;
  const bool others_write = (dir.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (dir.st_mode & S_ISVTX) == 0;
  return trusted_owner(link.st_uid) && trusted_owner(dir.st_uid) && !others_write;
}

// The absolute length of `path`, or 0 when the working directory cannot be read.
size_t absolute_length(const std::string& path) {
  if (path.starts_with('/')) return path.size();
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return 0;
  return std::strlen(cwd) + 1 + path.size();
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

// The directory holding `path`: "/" for a top-level one.
std::string parent_path(const std::string& path) {
  const size_t end = path.find_last_not_of('/');
  const size_t slash = end == std::string::npos ? std::string::npos : path.rfind('/', end);
  if (slash == std::string::npos) return ".";
  const size_t keep = path.find_last_not_of('/', slash);
  return keep == std::string::npos ? "/" : path.substr(0, keep + 1);
}

}  // namespace

bool is_session_id(std::string_view name) {
  const bool plain = std::ranges::all_of(name, [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  return plain && !name.empty() && name.size() <= kMaxSessionIdLength && name != "." && name != "..";
}

UniqueFd open_private_dir(const std::string& path, std::string_view setting, std::string& error) {
  return open_dir(path, {.setting = setting, .room = kSessionNameRoom}, error);
}

UniqueFd open_dir(const std::string& path, const DirRules& rules, std::string& error) {
  // One line: where the path came from, what is wrong with it, what to do.
  const auto refuse = [&](std::initializer_list<std::string_view> what) {
    error.clear();
    if (!rules.setting.empty()) error.assign(rules.setting).append("=").append(path).append(": ");
    for (const std::string_view part : what) error.append(part);
    if (!rules.setting.empty())
      error.append("; point ").append(rules.setting).append(" at a directory you own");
    return UniqueFd();
  };
  const size_t length = absolute_length(path);
  if (length == 0 || length + rules.room >= PATH_MAX) {
    return refuse({"the path is too long (",
                   length == 0 ? "the working directory's is" : std::to_string(length) + " bytes",
                   "): the session's files would pass the system's limit of ", std::to_string(PATH_MAX),
                   " bytes per path"});
  }
  std::deque<std::string> pending = components(path);
  std::string walked = path.starts_with('/') ? "" : ".";  // the real path so far, for messages
  UniqueFd dir(::open(path.starts_with('/') ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int links = 0;
  while (dir.valid() && !pending.empty()) {
    const std::string name = std::move(pending.front());
    pending.pop_front();
    std::string here = walked;
    here.append("/").append(name);
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd next(::openat(dir.get(), name.c_str(), kFlags));
    if (!next.valid() && errno == ENOENT && rules.create_mode != 0) {
      if (::mkdirat(dir.get(), name.c_str(), rules.create_mode) != 0 && errno != EEXIST) {
        return refuse({"cannot create directory ", here, ": ", errno_text(errno)});
      }
      next.reset(::openat(dir.get(), name.c_str(), kFlags));
    }
    if (next.valid()) {
      dir = std::move(next);
      walked = std::move(here);
      continue;
    }
    const int open_error = errno;
    struct stat st {};
    const bool is_link =
        ::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
    if (!is_link && open_error == ENOTDIR) return refuse({here, " is not a directory"});
    if (!is_link) return refuse({"cannot open directory ", here, ": ", errno_text(open_error)});
    if (pending.empty() && !(rules.own_link_at_end && st.st_uid == ::geteuid())) {
      return refuse(
          {here, " is a symbolic link",
           st.st_uid == ::geteuid() ? "" : " owned by uid " + std::to_string(st.st_uid) + ", not you",
           ": refusing to write profiles there"});
    }
    if (!pending.empty() && !trusted_link(dir.get(), st)) {
      return refuse({here,
                     " is a symbolic link that another user could have planted (it or its directory is "
                     "theirs, or others may write there): refusing to follow it"});
    }
    if (++links > kMaxLinks) return refuse({here, " is one link too many on the way"});
    std::string target(PATH_MAX, '\0');
    const ssize_t n = ::readlinkat(dir.get(), name.c_str(), target.data(), target.size());
    if (n <= 0 || static_cast<size_t>(n) >= target.size()) return refuse({"cannot read the link ", here});
    target.resize(static_cast<size_t>(n));
    if (target.starts_with('/')) {
      dir.reset(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      walked.clear();
    }
    std::deque<std::string> rest = components(target);
    pending.insert(pending.begin(), rest.begin(), rest.end());
  }
  if (!dir.valid())
    return refuse({"cannot open directory ", walked.empty() ? "/" : walked, ": ", errno_text(errno)});
  struct stat st {};
  if (::fstat(dir.get(), &st) != 0) return refuse({"cannot stat ", path, ": ", errno_text(errno)});
  if (rules.owned && st.st_uid != ::geteuid()) {
    return refuse({path, " is owned by uid ", std::to_string(st.st_uid), ", not by you (uid ",
                   std::to_string(::geteuid()), "): refusing to write profiles there"});
  }
  return dir;
}

SessionLogResult open_session_log(const std::string& session_dir, const std::string& profiling_dir, pid_t pid,
                                  std::string_view session_setting) {
  SessionLogResult result;
  std::string& error = result.error;
  SessionLog& log = result.log;
  UniqueFd dir_fd;
  if (!session_dir.empty()) {
    log.dir_path = session_dir;
    dir_fd = open_private_dir(session_dir, session_setting, error);
    if (!dir_fd.valid()) return result;
  } else {
    UniqueFd parent = open_private_dir(profiling_dir, "VLLM_PROFILING_DIR", error);
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
      // Just made by us, in a directory we own: opened without following a link all the same.
      dir_fd.reset(::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dir_fd.valid()) {
        error = "cannot open " + log.dir_path + ": " + errno_text(errno);
        return result;
      }
    }
    if (!dir_fd.valid()) {
      error = "cannot find a free session directory name in " + profiling_dir;
      return result;
    }
  }
  log.session_id = base_name(log.dir_path);
  // Children inherit the environment, not our state: this is how they join the session. Ray
  // actors and headless nodes get only VLLM_ variables: the directory's parent and name, which
  // make the same path on every host (a relative path would not).
  ::setenv("PROFILEMATE_SESSION_DIR", log.dir_path.c_str(), 1);
  if (log.dir_path.starts_with('/') && is_session_id(log.session_id)) {
    ::setenv("VLLM_PROFILING_DIR", parent_path(log.dir_path).c_str(), 1);
    ::setenv("VLLM_PROFILING_SESSION_ID", log.session_id.c_str(), 1);
  } else {
    ::unsetenv("VLLM_PROFILING_SESSION_ID");  // an inherited one names another session
  }
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
