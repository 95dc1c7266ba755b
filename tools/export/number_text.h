// Number formatting shared by the CSV and JSON writers: std::to_chars, no locale, no allocation
// beyond the output string.
#pragma once

#include <charconv>
#include <string>

namespace profilemate::exporter {

template <typename Integer>
void append_integer(std::string& out, Integer value) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

// `decimals` digits after the point; the caller handles non-finite values.
inline void append_fixed(std::string& out, double value, int decimals) {
  char digits[64];
  out.append(digits,
             std::to_chars(digits, digits + sizeof digits, value, std::chars_format::fixed, decimals).ptr);
}

}  // namespace profilemate::exporter
