#include "install_paths.h"

#include "program_files.h"

namespace profilemate::cli {

InstallPaths find_install_paths() {
  using exporter::find_program_file;
  const exporter::ProgramFile injection =
      find_program_file({"../lib/libprofilemate_injection.so", "../injection/libprofilemate_injection.so"});
  const exporter::ProgramFile hooks =
      find_program_file({"../lib/python", "../pyhooks"}, "profilemate/__init__.py");
  return {injection.path, hooks.path, injection.searched + hooks.searched};
}

}  // namespace profilemate::cli
