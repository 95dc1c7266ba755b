#include "cli.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "printable.h"

namespace profilemate::cli {

int usage_error(const std::string& message, std::string_view command) {
  const std::string prefix = command.empty() ? std::string() : std::string(command) + " ";
  std::fprintf(stderr, "profilemate: %s\nRun 'profilemate %s--help' for usage.\n", message.c_str(),
               prefix.c_str());
  return kExitUsage;
}

void print_warnings(const std::vector<std::string>& warnings) {
  for (const std::string& warning : warnings)
    std::fprintf(stderr, "warning: %s\n", reader::printable(warning).c_str());
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "profilemate: %s\n", reader::printable(message).c_str());
}

int write_output(const std::string& text, const std::string& path) {
  if (path.empty()) {
    std::fputs(text.c_str(), stdout);
    return kExitOk;
  }
  std::FILE* file = std::fopen(path.c_str(), "wb");
  const bool written = file != nullptr && std::fwrite(text.data(), 1, text.size(), file) == text.size();
  if (file == nullptr || std::fclose(file) != 0 || !written) {
    std::fprintf(stderr, "profilemate: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    return kExitOutput;
  }
  std::fprintf(stderr, "Wrote %s\n", path.c_str());
  return kExitOk;
}

}  // namespace profilemate::cli
