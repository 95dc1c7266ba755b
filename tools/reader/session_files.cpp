#include "session_files.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "pmlog_reader.h"

namespace profilemate::reader {

std::vector<std::string> session_log_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    throw ReadError(dir + ": not a directory" + (error ? " (" + error.message() + ")" : std::string()) +
                    "; give the session directory that holds the *.pmlog files");
  }
  std::vector<std::string> files;
  fs::directory_iterator it(dir, error);
  if (error) throw ReadError("cannot list " + dir + ": " + error.message());
  for (const fs::directory_entry& entry : it) {
    if (entry.path().extension() == ".pmlog" && entry.is_regular_file(error)) {
      files.push_back(entry.path().string());
    }
  }
  if (files.empty()) {
    throw ReadError(dir + " is not a ProfileMate session: it holds no *.pmlog process logs");
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace profilemate::reader
