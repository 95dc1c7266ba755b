// The pieces the profilemate command injects, found beside it (program_files.h).
#pragma once

#include <string>

namespace profilemate::cli {

struct InstallPaths {
  std::string injection_library;  // absolute; empty when not found
  std::string python_hooks;       // the directory to put on PYTHONPATH; empty when not found
  std::string searched;           // where we looked, for error messages
};

InstallPaths find_install_paths();

}  // namespace profilemate::cli
