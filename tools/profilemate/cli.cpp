#include "cli.h"

#include <cstdio>
#include <exception>

#include "atomic_output.h"
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
  try {
    // As the export's files: never through a link planted under that name, never half-written.
    exporter::AtomicOutput output(path);
    if (std::fwrite(text.data(), 1, text.size(), output.file()) != text.size()) output.fail();
    output.commit();
  } catch (const std::exception& error) {
    print_error(error.what());
    return kExitOutput;
  }
  std::fprintf(stderr, "Wrote %s\n", path.c_str());
  return kExitOk;
}

}  // namespace profilemate::cli
