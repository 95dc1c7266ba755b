// Number formatting shared by the CSV and JSON writers: no locale, no allocation beyond the
// output string, and digits written straight to the output two at a time (the CSV export writes
// hundreds of millions of numbers, most of them 19-digit nanosecond timestamps).
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

namespace profilemate::exporter {

namespace number_text_detail {

inline constexpr auto kDigitPairs = [] {
  std::array<char, 200> pairs{};
  for (size_t i = 0; i < 100; ++i) {
    pairs[2 * i] = static_cast<char>('0' + i / 10);
    pairs[2 * i + 1] = static_cast<char>('0' + i % 10);
  }
  return pairs;
}();

inline char* put_pair(char* out, uint32_t below_100) {
  std::memcpy(out, &kDigitPairs[size_t{2} * below_100], 2);
  return out + 2;
}

// The digits of `value`, as many as it has.
inline char* put_u32(char* out, uint32_t value) {
  static constexpr uint32_t kPowers[] = {1,      10,      100,      1000,      10000,
                                         100000, 1000000, 10000000, 100000000, 1000000000};
  // log10 from log2 (1233 / 4096 is just above log10(2)), then one comparison to settle it.
  const int below = (32 - __builtin_clz(value | 1)) * 1233 >> 12;
  const int digits = below + (below < 10 && value >= kPowers[below] ? 1 : 0);
  char* const end = out + std::max(digits, 1);
  char* at = end;
  while (value >= 100) {
    at -= 2;
    put_pair(at, value % 100);
    value /= 100;
  }
  if (value >= 10) {
    put_pair(at - 2, value);
  } else {
    at[-1] = static_cast<char>('0' + value);
  }
  return end;
}

// Exactly eight digits of `value` (below 10^8), zero-padded.
inline char* put_8_digits(char* out, uint32_t value) {
  const uint32_t high = value / 10000;
  const uint32_t low = value % 10000;
  out = put_pair(out, high / 100);
  out = put_pair(out, high % 100);
  out = put_pair(out, low / 100);
  return put_pair(out, low % 100);
}

}  // namespace number_text_detail

// Writes what std::to_chars(out, end, value) writes (room for 20 characters), in 32-bit pieces of
// eight digits: a timestamp takes three divisions instead of ten.
inline char* put_uint(char* out, uint64_t value) {
  using namespace number_text_detail;
  constexpr uint64_t k8 = 100'000'000;
  if (value <= UINT32_MAX) return put_u32(out, static_cast<uint32_t>(value));
  if (value < k8 * k8) {
    const uint64_t high = value / k8;
    out = put_u32(out, static_cast<uint32_t>(high));
    return put_8_digits(out, static_cast<uint32_t>(value - high * k8));
  }
  const uint64_t top = value / (k8 * k8);
  const uint64_t rest = value - top * (k8 * k8);
  const uint64_t middle = rest / k8;
  out = put_u32(out, static_cast<uint32_t>(top));
  out = put_8_digits(out, static_cast<uint32_t>(middle));
  return put_8_digits(out, static_cast<uint32_t>(rest - middle * k8));
}

// Writes what put_uint writes, faster for runs of values that share all but their last nine
// digits (an export's timestamps in nanoseconds since the epoch: every value of one second): the
// digits above the last nine are rendered when they change, and copied otherwise.
class UintSharingHighDigits {
 public:
  // Room for 21 characters, as put_uint.
  char* put(char* out, uint64_t value) {
    using namespace number_text_detail;
    constexpr uint64_t kLow = 1'000'000'000;
    const uint64_t high = value / kLow;
    if (high == 0) return put_uint(out, value);
    if (high != high_) {
      high_ = high;
      length_ = static_cast<size_t>(put_uint(digits_.data(), high) - digits_.data());
    }
    std::memcpy(out, digits_.data(), digits_.size());  // all of it, then only its length counts
    out += length_;
    const auto low = static_cast<uint32_t>(value - high * kLow);
    *out++ = static_cast<char>('0' + low / 100'000'000);
    return put_8_digits(out, low % 100'000'000);
  }

 private:
  uint64_t high_ = 0;
  size_t length_ = 0;
  std::array<char, 16> digits_{};  // at most 11 digits: 2^64 / 10^9
};

// The same for a signed value (room for 21 characters).
inline char* put_int(char* out, int64_t value) {
  if (value >= 0) return put_uint(out, static_cast<uint64_t>(value));
  *out++ = '-';
  return put_uint(out, ~static_cast<uint64_t>(value) + 1);
}

// `value` in units of 10^-decimals, exactly: 12345 with 3 decimals is "12.345" (room for 22
// characters; decimals 0 to 9).
inline char* put_decimal(char* out, uint64_t value, int decimals) {
  if (decimals == 0) return put_uint(out, value);
  uint64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  out = put_uint(out, value / scale);
  *out++ = '.';
  auto fraction = static_cast<uint32_t>(value % scale);
  for (char* digit = out + decimals; digit != out; fraction /= 10)
    *--digit = static_cast<char>('0' + fraction % 10);
  return out + decimals;
}

// Room for any integer put_integer writes.
inline constexpr size_t kMaxIntegerChars = 21;

template <std::integral Integer>
char* put_integer(char* out, Integer value) {
  if constexpr (std::is_signed_v<Integer>) {
    return put_int(out, value);
  } else {
    return put_uint(out, value);
  }
}

template <std::integral Integer>
void append_integer(std::string& out, Integer value) {
  char digits[kMaxIntegerChars];
  out.append(digits, put_integer(digits, value));
}

// 10^0 to 10^9, exactly, as doubles: the scales of the decimals written here.
inline constexpr double kPowersOfTen[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

// The longest fixed-point double: 309 integer digits, a sign, a point, and the decimals used here.
inline constexpr size_t kMaxFixedChars = 330;

// Writes what std::to_chars(value, fixed, decimals) writes, into [out, out_end) (room for
// kMaxFixedChars). to_chars rounds the exact binary value, through a general and slow path; most
// of the values written here are far from a rounding tie, and then an integer does it: the scaled
// value is rounded to the nearest integer, whose digits are the answer. Near a tie (and for
// negative or huge values), where the scaling's rounding error could flip the result, to_chars
// decides.
inline char* fixed_chars(char* out, char* out_end, double value, int decimals) {
  // Below 2^40 the scaling errs by at most 2^-13, well inside this distance from a tie.
  constexpr double kLimit = 0x1p40;
  constexpr double kTieMargin = 0x1p-10;
  if (!std::signbit(value) && decimals >= 0 && decimals < static_cast<int>(std::size(kPowersOfTen))) {
    const double scaled = value * kPowersOfTen[decimals];
    if (scaled < kLimit) {
      const auto whole = static_cast<uint64_t>(scaled);             // floor: scaled is not negative
      const double fraction = scaled - static_cast<double>(whole);  // exact: both are below 2^40
      if (std::abs(fraction - 0.5) > kTieMargin) {
        return put_decimal(out, whole + (fraction > 0.5 ? 1 : 0), decimals);
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
