// Unit conversions every output shares: nanoseconds to the units the files and reports print.
#pragma once

#include <cstdint>

namespace profilemate::exporter {

inline double ms(uint64_t ns) {
  return static_cast<double>(ns) * 1e-6;
}
inline double us(uint64_t ns) {
  return static_cast<double>(ns) * 1e-3;
}
inline double sec(uint64_t ns) {
  return static_cast<double>(ns) * 1e-9;
}
// part / whole in %, 0 for an empty whole.
inline double percent(double part, double whole) {
  return whole > 0 ? 100.0 * part / whole : 0.0;
}

}  // namespace profilemate::exporter
