#include "install_paths.h"

#include <filesystem>
#include <system_error>

namespace profilemate::cli {

InstallPaths find_install_paths() {
  namespace fs = std::filesystem;
  std::error_code error;
  const fs::path bin = fs::read_symlink("/proc/self/exe", error).parent_path();
  InstallPaths paths;
  // Installed layout first, then the build tree.
  for (const fs::path& candidate :
       {bin / "../lib/libprofilemate_injection.so", bin / "../injection/libprofilemate_injection.so"}) {
    paths.searched += " " + candidate.lexically_normal().string();
    if (fs::exists(candidate, error)) {
      paths.injection_library = fs::weakly_canonical(candidate, error).string();
      break;
    }
  }
  for (const fs::path& candidate : {bin / "../lib/python", bin / "../pyhooks"}) {
    paths.searched += " " + candidate.lexically_normal().string();
    if (fs::exists(candidate / "profilemate" / "__init__.py", error)) {
      paths.python_hooks = fs::weakly_canonical(candidate, error).string();
      break;
    }
  }
  return paths;
}

}  // namespace profilemate::cli
