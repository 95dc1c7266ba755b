#include "program_files.h"

#include <filesystem>
#include <system_error>

namespace profilemate::exporter {

ProgramFile find_program_file(std::initializer_list<std::string_view> candidates, std::string_view probe) {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path program_dir = fs::read_symlink("/proc/self/exe", error).parent_path();
  ProgramFile found;
  for (const std::string_view relative : candidates) {
    const fs::path candidate = program_dir / relative;
    found.searched += " " + candidate.lexically_normal().string();
    if (fs::exists(probe.empty() ? candidate : candidate / probe, error)) {
      found.path = fs::weakly_canonical(candidate, error).string();
      break;
    }
  }
  return found;
}

}  // namespace profilemate::exporter
