// Where a program finds the pieces it loads or injects, relative to its own executable, so that
// an installed tree can be moved: bin/<program> next to lib/ (cmake --install), or the build tree,
// whose programs (build/tools, build/tests, build/bench) sit beside build/tools, build/injection
// and build/pyhooks.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace profilemate::exporter {

struct ProgramFile {
  std::string path;      // absolute; empty when none of the candidates is there
  std::string searched;  // " candidate candidate ...", for messages
};

// The first of `candidates` (relative to the program's directory: the installed layout first,
// then the build tree's) under which `probe` exists ("" for the candidate itself).
ProgramFile find_program_file(std::initializer_list<std::string_view> candidates,
                              std::string_view probe = "");

}  // namespace profilemate::exporter
