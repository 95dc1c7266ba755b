#include "cli.h"

#include <cstdio>

namespace profilemate::cli {

int usage_error(const std::string& message, std::string_view command) {
  const std::string prefix = command.empty() ? std::string() : std::string(command) + " ";
  std::fprintf(stderr, "profilemate: %s\nRun 'profilemate %s--help' for usage.\n", message.c_str(),
               prefix.c_str());
  return kExitUsage;
}

}  // namespace profilemate::cli
