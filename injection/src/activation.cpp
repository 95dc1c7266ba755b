#include "activation.h"

#include <fstream>
#include <iterator>
#include <string_view>

namespace profilemate::injection {
namespace {

std::string_view base_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

bool looks_like_vllm(const std::vector<std::string>& argv) {
  bool names_vllm = false;
  bool has_model = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (arg.find("vllm.entrypoints") != std::string_view::npos) return true;
    if (base_name(arg) == "vllm" && i + 1 < argv.size() && !argv[i + 1].empty() && argv[i + 1][0] != '-')
      return true;
    if (arg == "-m" && i + 1 < argv.size() && argv[i + 1].rfind("vllm", 0) == 0) return true;
    if (arg.find("vllm") != std::string_view::npos) names_vllm = true;
    if (arg == "--model" || arg.rfind("--model=", 0) == 0) has_model = true;
  }
  return names_vllm && has_model;
}

Activation decide_activation(GetEnv getenv, const std::vector<std::string>& argv) {
  if (const char* value = getenv("PROFILEMATE_ENABLE")) {
    const bool on = std::string_view(value) == "1";
    return {on, std::string("PROFILEMATE_ENABLE=") + value};
  }
  if (const char* value = getenv("VLLM_ENABLE_PROFILING")) {
    const bool on = std::string_view(value) == "1";
    return {on, std::string("VLLM_ENABLE_PROFILING=") + value};
  }
  if (const char* session = getenv("PROFILEMATE_SESSION_DIR"); session != nullptr && *session != '\0') {
    return {true, "PROFILEMATE_SESSION_DIR is set (joining a session)"};
  }
  if (const char* id = getenv("VLLM_PROFILING_SESSION_ID"); id != nullptr && *id != '\0') {
    return {true, "VLLM_PROFILING_SESSION_ID is set (joining a session)"};
  }
  if (looks_like_vllm(argv)) return {true, "the command line looks like vLLM"};
  return {false, "not a vLLM process and no switch set"};
}

std::vector<std::string> own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\0') {
      argv.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  if (start < text.size()) argv.push_back(text.substr(start));
  return argv;
}

}  // namespace profilemate::injection
