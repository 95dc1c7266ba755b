// Finds the process logs of a session directory.
#pragma once

#include <string>
#include <vector>

namespace profilemate::reader {

// The `*.pmlog` files directly in `dir`, sorted by name. Throws ReadError when `dir` is not a
// readable directory or holds no process log.
std::vector<std::string> session_log_files(const std::string& dir);

// The same, but empty (never an error) when `dir` is missing, unreadable or holds no log.
std::vector<std::string> session_log_files_or_empty(const std::string& dir);

}  // namespace profilemate::reader
