// Finds and loads the Parquet plugin (see parquet_file.h): an installed tree's
// lib/profilemate/libprofilemate_parquet.so, relative to the running program, so that the tree can
// move; else the build tree's, for the programs and tests that run from it.
#include <dlfcn.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <stdexcept>

#include "parquet_file.h"

namespace profilemate::exporter {
namespace {

constexpr const char* kPluginName = "libprofilemate_parquet.so";
constexpr const char* kInstallHint =
    "install pyarrow in the build's Python (pip install pyarrow), reconfigure with "
    "-DPROFILEMATE_PARQUET=ON and build; an installed tree has the plugin in lib/profilemate/";

struct Plugin {
  OpenParquetFile open = nullptr;
  std::string reason;  // why open is null
};

std::filesystem::path program_dir() {
  std::array<char, 4096> path{};
  const ssize_t size = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  return size > 0 ? std::filesystem::path(std::string(path.data(), static_cast<size_t>(size))).parent_path()
                  : std::filesystem::path();
}

Plugin load() {
  const std::filesystem::path program = program_dir();
  std::vector<std::filesystem::path> candidates{program / ".." / "lib" / "profilemate" / kPluginName};
#ifdef PROFILEMATE_PARQUET_PLUGIN
  // An installed program (in a bin/) uses its own tree's plugin or none, never the build's.
  if (program.filename() != "bin") candidates.emplace_back(PROFILEMATE_PARQUET_PLUGIN);
#endif
  std::string reason = "this profilemate was built without Parquet support";
  for (const std::filesystem::path& candidate : candidates) {
    std::error_code error;
    if (!std::filesystem::exists(candidate, error)) continue;
    // Never closed: the files it opens use its code until the program ends.
    void* handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      reason = "the Parquet plugin " + candidate.string() + " does not load: " + ::dlerror();
      continue;
    }
    if (void* entry = ::dlsym(handle, kOpenParquetFileSymbol); entry != nullptr) {
      return {reinterpret_cast<OpenParquetFile>(entry), ""};
    }
    reason = "the Parquet plugin " + candidate.string() + " has no " + kOpenParquetFileSymbol;
  }
#ifdef PROFILEMATE_PARQUET_PLUGIN
  if (reason.starts_with("this profilemate")) {
    reason = "this profilemate has no Parquet plugin (" + candidates.front().lexically_normal().string() +
             " is missing)";
  }
#endif
  return {nullptr, reason + ": " + kInstallHint};
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
