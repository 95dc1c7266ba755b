// Number formatting shared by the CSV and JSON writers: std::to_chars, no locale, no allocation
// beyond the output string.
#pragma once

#include <algorithm>
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

// The longest fixed-point double: 309 integer digits, a sign, a point, and the decimals used here.
inline constexpr size_t kMaxFixedChars = 330;

// Writes what std::to_chars(value, fixed, decimals) writes, into [out, out_end) (room for
// kMaxFixedChars). to_chars rounds the exact binary value, through a general and slow path; most
// of the values written here are far from a rounding tie, and then an integer does it: the scaled
// value is rounded to the nearest integer, whose digits are the answer. Near a tie (and for
// negative or huge values), where the scaling's rounding error could flip the result, to_chars
// decides.
inline char* fixed_chars(char* out, char* out_end, double value, int decimals) {
  static constexpr double kScale[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
  // Below 2^40 the scaling errs by at most 2^-13, well inside this distance from a tie.
  constexpr double kLimit = 0x1p40;
  constexpr double kTieMargin = 0x1p-10;
  if (!std::signbit(value) && decimals >= 0 && decimals < static_cast<int>(std::size(kScale))) {
    const double scaled = value * kScale[decimals];
    if (scaled < kLimit) {
      const auto whole = static_cast<uint64_t>(scaled);             // floor: scaled is not negative
      const double fraction = scaled - static_cast<double>(whole);  // exact: both are below 2^40
      if (std::abs(fraction - 0.5) > kTieMargin) {
        uint64_t rounded = whole + (fraction > 0.5 ? 1 : 0);
        char digits[24];  // backwards, at least one before the point
        char* digit = std::end(digits);
        do {
          *--digit = static_cast<char>('0' + rounded % 10);
          rounded /= 10;
        } while (rounded != 0 || std::end(digits) - digit <= decimals);
        const auto integer_digits = static_cast<size_t>(std::end(digits) - digit - decimals);
        out = std::copy_n(digit, integer_digits, out);
        if (decimals == 0) return out;
        *out++ = '.';
        return std::copy_n(digit + integer_digits, decimals, out);
      }
    }
  }
  return std::to_chars(out, out_end, value, std::chars_format::fixed, decimals).ptr;
}

// `decimals` digits after the point; the caller handles non-finite values.
inline void append_fixed(std::string& out, double value, int decimals) {
  char digits[kMaxFixedChars];
  out.append(digits, fixed_chars(digits, digits + sizeof digits, value, decimals));
}

}  // namespace profilemate::exporter
