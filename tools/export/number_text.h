// Number formatting shared by the CSV and JSON writers: std::to_chars, no locale, no allocation
// beyond the output string.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

namespace profilemate::exporter {

template <typename Integer>
void append_integer(std::string& out, Integer value) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

// Writes what std::to_chars(value, fixed, decimals) writes, into [first, last) (room for 64
// characters). to_chars rounds the exact binary value, through a general and slow path; most of
// the values written here are far from a rounding tie, and then an integer does it: the scaled
// value is rounded to the nearest integer, whose digits are the answer. Near a tie (and for
// negative or huge values), where the scaling's rounding error could flip the result, to_chars
// decides.
inline char* fixed_chars(char* first, char* last, double value, int decimals) {
  static constexpr double kScale[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
  static constexpr uint64_t kPower[] = {1,      10,      100,      1000,      10000,
                                        100000, 1000000, 10000000, 100000000, 1000000000};
  // Below 2^40 the scaling errs by at most 2^-13, well inside this distance from a tie.
  constexpr double kLimit = 0x1p40;
  constexpr double kTieMargin = 0x1p-10;
  if (!std::signbit(value) && decimals >= 0 && decimals < static_cast<int>(std::size(kScale))) {
    const double scaled = value * kScale[decimals];
    if (scaled < kLimit) {
      const double whole = std::floor(scaled);
      const double fraction = scaled - whole;  // exact: both are below 2^40
      if (std::abs(fraction - 0.5) > kTieMargin) {
        const uint64_t rounded = static_cast<uint64_t>(whole) + (fraction > 0.5 ? 1 : 0);
        char* end = std::to_chars(first, last, rounded / kPower[decimals]).ptr;
        if (decimals == 0) return end;
        *end++ = '.';
        uint64_t digits = rounded % kPower[decimals];
        for (int i = decimals - 1; i >= 0; --i, digits /= 10) end[i] = static_cast<char>('0' + digits % 10);
        return end + decimals;
      }
    }
  }
  return std::to_chars(first, last, value, std::chars_format::fixed, decimals).ptr;
}

// `decimals` digits after the point; the caller handles non-finite values.
inline void append_fixed(std::string& out, double value, int decimals) {
  char digits[64];
  out.append(digits, fixed_chars(digits, digits + sizeof digits, value, decimals));
}

}  // namespace profilemate::exporter
