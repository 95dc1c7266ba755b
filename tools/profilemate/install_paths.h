// Where the profilemate command finds the pieces it injects, relative to its own executable, so
// that an installed tree can be moved: bin/profilemate next to lib/ (cmake --install), or the
// build tree (build/tools/profilemate next to build/injection and build/pyhooks).
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
