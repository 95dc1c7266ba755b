#include "bench_session.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "profilemate/recorder.h"

namespace profilemate::bench {
namespace {

std::string g_dir;

void remove_session() {
  pm_stop();
  std::error_code ignored;
  std::filesystem::remove_all(g_dir, ignored);
}

}  // namespace

void use_throwaway_session() {
  if (!g_dir.empty()) return;
  g_dir = std::filesystem::temp_directory_path() / ("profilemate_bench_" + std::to_string(::getpid()));
  ::setenv("PROFILEMATE_SESSION_DIR", g_dir.c_str(), 1);
  std::atexit(remove_session);
}

}  // namespace profilemate::bench
