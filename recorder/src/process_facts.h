// Facts about this process for the log header, read once at start.
#pragma once

#include <cstdint>
#include <string>

namespace profilemate::recorder {

uint64_t realtime_ns();
uint64_t monotonic_ns();
std::string host_name();
// /proc/self/cmdline with NUL separators replaced by spaces.
std::string command_line();

}  // namespace profilemate::recorder
