// Protocol-buffer varints (base 128, low groups first), for the few places that read or write
// them without libprotobuf: the fast path for graph replays in the reader, and the compact rows
// a sort spills to disk.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profilemate::reader {

template <typename Byte>
Byte* put_varint(Byte* out, uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<Byte>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<Byte>(value);
  return out;
}

// Reads one varint at `in` and moves past it. False (and `in` somewhere inside) for bytes that end
// inside the varint or hold one longer than ten bytes.
template <typename Byte>
bool get_varint(const Byte*& in, const Byte* end, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 70 && in != end; shift += 7) {
    const auto byte = static_cast<uint8_t>(*in++);
    value |= uint64_t{byte & 0x7fu} << shift;
    if (byte < 0x80) return true;
  }
  return false;
}

}  // namespace profilemate::reader
