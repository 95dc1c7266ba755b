// Finds and loads the Parquet plugin (see parquet_file.h) beside the program (program_files.h):
// an installed tree's lib/profilemate/libprofilemate_parquet.so, or the build tree's.
#include <dlfcn.h>

#include <stdexcept>

#include "parquet_file.h"
#include "program_files.h"

namespace profilemate::exporter {
namespace {

constexpr const char* kInstallHint =
    "install pyarrow in the build's Python (pip install pyarrow), reconfigure with "
    "-DPROFILEMATE_PARQUET=ON and build; an installed tree has the plugin in lib/profilemate/";

struct Plugin {
  OpenParquetFile open = nullptr;
  std::string reason;  // why open is null
};

Plugin load() {
  const ProgramFile file = find_program_file(
      {"../lib/profilemate/libprofilemate_parquet.so", "../tools/libprofilemate_parquet.so"});
  if (file.path.empty()) {
#ifdef PROFILEMATE_HAS_PARQUET
    return {nullptr,
            "this profilemate has no Parquet plugin (looked in:" + file.searched + "): " + kInstallHint};
#else
    return {nullptr, std::string("this profilemate was built without Parquet support: ") + kInstallHint};
#endif
  }
  // Never closed: the files it opens use its code until the program ends.
  void* handle = ::dlopen(file.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return {nullptr, "the Parquet plugin " + file.path + " does not load: " + ::dlerror()};
  void* entry = ::dlsym(handle, kOpenParquetFileSymbol);
  if (entry == nullptr)
    return {nullptr, "the Parquet plugin " + file.path + " has no " + kOpenParquetFileSymbol};
  return {reinterpret_cast<OpenParquetFile>(entry), ""};
}

const Plugin& plugin() {
  static const Plugin loaded = load();
  return loaded;
}

}  // namespace

bool parquet_supported() {
  return plugin().open != nullptr;
}

std::string parquet_unsupported_reason() {
  return plugin().reason;
}

std::unique_ptr<ParquetFile> open_parquet_file(const std::string& path, std::span<const ColumnInfo> columns) {
  if (!parquet_supported()) throw std::runtime_error(parquet_unsupported_reason());
  return plugin().open(path, columns);
}

}  // namespace profilemate::exporter
