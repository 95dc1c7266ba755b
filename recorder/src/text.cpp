#include "text.h"

#include <cstdint>

namespace profilemate::recorder {
namespace {

// Length of the valid UTF-8 sequence starting at s[0], or 0 if it is not one.
size_t utf8_sequence_length(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(0);
  size_t length = 0;
  uint32_t min_code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) {
    length = 2;
    min_code = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    min_code = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    min_code = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  uint32_t code = lead & (0x7f >> length);
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3f);
  }
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  return (code < min_code || code > 0x10ffff || surrogate) ? 0 : length;
}

}  // namespace

void copy_utf8(char* dst, size_t capacity, std::string_view src) {
  if (capacity == 0) return;
  size_t out = 0;
  while (!src.empty()) {
    size_t length = utf8_sequence_length(src);
    const bool valid = length != 0;
    if (!valid) length = 1;
    if (out + (valid ? length : 1) > capacity - 1) break;
    if (valid) {
      for (size_t i = 0; i < length; ++i) dst[out++] = src[i];
    } else {
      dst[out++] = '?';
    }
    src.remove_prefix(length);
  }
  dst[out] = '\0';
}

}  // namespace profilemate::recorder
