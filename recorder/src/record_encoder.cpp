#include "record_encoder.h"

#include <pb_encode.h>

#include <cstring>

namespace profilemate::recorder {
namespace {

size_t varint_size(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

uint8_t* put_varint(uint8_t* out, uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<uint8_t>(value);
  return out;
}

}  // namespace

size_t encode_record(uint8_t* out, size_t capacity, uint32_t field_number, const pb_msgdesc_t* fields,
                     const void* message) {
  if (capacity <= kRecordFramingBytes) return 0;
  // Encode the message after the largest possible prefix, then slide it down behind the real
  // prefix: one pass over the fields instead of a sizing pass and an encoding pass.
  uint8_t* body = out + kRecordFramingBytes;
  pb_ostream_t stream = pb_ostream_from_buffer(body, capacity - kRecordFramingBytes);
  if (!pb_encode(&stream, fields, message)) return 0;
  const size_t body_size = stream.bytes_written;
  const uint64_t tag = (uint64_t{field_number} << 3) | PB_WT_STRING;
  const size_t record_size = varint_size(tag) + varint_size(body_size) + body_size;
  uint8_t* cursor = put_varint(out, record_size);
  cursor = put_varint(cursor, tag);
  cursor = put_varint(cursor, body_size);
  std::memmove(cursor, body, body_size);
  return static_cast<size_t>(cursor - out) + body_size;
}

}  // namespace profilemate::recorder
