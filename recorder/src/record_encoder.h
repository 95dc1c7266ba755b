// Encodes one event as a length-delimited `profilemate.Record`, without allocating and without
// walking nanopb's field iterator per record: each kind's encoding plan (offsets, wire types,
// presence flags) is read once from the nanopb descriptors, then every record is a tight loop
// over its plan.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profilemate::recorder {

// The largest encoding of a framed record of this Record kind (field number), framing included;
// 0 for a number that is not a record kind or whose layout the encoder does not support.
size_t max_record_size(uint32_t field_number);

// Writes varint(record size) + Record{field_number: message} at `out`, `message` being the
// kind's nanopb struct. Returns the bytes written, or 0 if `capacity` is below
// max_record_size(field_number), the kind is unknown, or the message is malformed (a string
// without its terminator, a repeated count above its array).
size_t encode_record(uint8_t* out, size_t capacity, uint32_t field_number, const void* message);

}  // namespace profilemate::recorder
