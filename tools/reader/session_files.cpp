#include "session_files.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "pmlog_reader.h"

namespace profilemate::reader {

namespace {

// The logs in `dir`, sorted; an error message instead when it cannot be listed.
std::vector<std::string> list_logs(const std::string& dir, std::string& problem) {
  namespace fs = std::filesystem;
  std::error_code error;
  std::vector<std::string> files;
  if (!fs::is_directory(dir, error)) {
    problem = dir + ": not a directory" + (error ? " (" + error.message() + ")" : std::string()) +
              "; give the session directory that holds the *.pmlog files";
    return files;
  }
  fs::directory_iterator it(dir, error);
  if (error) {
    problem = "cannot list " + dir + ": " + error.message();
    return files;
  }
  for (const fs::directory_entry& entry : it) {
    if (entry.path().extension() == ".pmlog" && entry.is_regular_file(error)) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::vector<std::string> session_log_files_or_empty(const std::string& dir) {
  std::string problem;
  return list_logs(dir, problem);
}

std::vector<std::string> session_log_files(const std::string& dir) {
  std::string problem;
  std::vector<std::string> files = list_logs(dir, problem);
  if (!problem.empty()) throw ReadError(problem);
  if (files.empty()) {
    throw ReadError(dir + " is not a ProfileMate session: it holds no *.pmlog process logs");
  }
  return files;
}

}  // namespace profilemate::reader
