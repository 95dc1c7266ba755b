// Encodes one event as a length-delimited `profilemate.Record` with nanopb, without allocating.
#pragma once

#include <pb.h>

#include <cstddef>
#include <cstdint>

namespace profilemate::recorder {

// Bytes a framed record can add beyond its message: outer length, field tag, inner length.
inline constexpr size_t kRecordFramingBytes = 5 + 2 + 5;

// Writes varint(record size) + Record{field_number: message} at `out`. Returns the bytes
// written, or 0 if it does not fit in `capacity` or the message cannot be encoded.
size_t encode_record(uint8_t* out, size_t capacity, uint32_t field_number, const pb_msgdesc_t* fields,
                     const void* message);

}  // namespace profilemate::recorder
