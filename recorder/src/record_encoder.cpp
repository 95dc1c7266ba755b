#include "record_encoder.h"

#include <pb.h>
#include <pb_common.h>

#include <array>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "event_kinds.h"
#include "no_destructor.h"

namespace profilemate::recorder {
namespace {

// How a field's value becomes bytes (the in-memory type is implied).
enum class Op : uint8_t {
  kBool,
  kInt32,
  kInt64,
  kUint32,
  kUint64,
  kSint32,
  kSint64,
  kFixed32,
  kFixed64,
  kString,
  kMessage
};
// When a field is written: proto3 implicit presence (not when zero), a has_ flag, or repeated
// (packed, with an element count).
enum class Presence : uint8_t { kNonZero, kHasFlag, kRepeated };

struct MessagePlan;

struct FieldPlan {
  uint32_t offset = 0;           // of the value, or of the first element
  uint32_t presence_offset = 0;  // of the has_ flag or the element count
  uint32_t array_size = 0;       // a string's char array, or a repeated field's capacity
  uint32_t tag = 0;              // the key: field number and wire type
  uint32_t data_size = 0;        // of one value or element
  Op op = Op::kBool;
  Presence presence = Presence::kNonZero;
  const MessagePlan* message = nullptr;
};

struct MessagePlan {
  std::vector<FieldPlan> fields;
  size_t max_size = 0;  // of the body
};

struct RecordPlan {
  const MessagePlan* message = nullptr;
  uint32_t tag = 0;
  size_t max_body = 0;  // tag, message length and message
  size_t max_size = 0;  // with the record's length in front
};

constexpr size_t varint_size(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

inline uint8_t* put_varint(uint8_t* out, uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<uint8_t>(value);
  return out;
}

template <typename T>
inline T load(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

// The varint a scalar goes on the wire as; signed 32-bit values are sign-extended, as protobuf
// does.
inline uint64_t varint_of(Op op, const uint8_t* at) {
  switch (op) {
    case Op::kBool: return at[0] != 0 ? 1 : 0;
    case Op::kInt32: return static_cast<uint64_t>(int64_t{load<int32_t>(at)});
    case Op::kInt64: return static_cast<uint64_t>(load<int64_t>(at));
    case Op::kUint32: return load<uint32_t>(at);
    case Op::kSint32: {
      const auto value = load<int32_t>(at);
      return (static_cast<uint32_t>(value) << 1) ^ static_cast<uint32_t>(value >> 31);
    }
    case Op::kSint64: {
      const auto value = load<int64_t>(at);
      return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
    }
    default: return load<uint64_t>(at);  // kUint64
  }
}

// Writes varint(length) + body, the body written by `encode_body(at)` (null: malformed). Room
// for the longest length is reserved so that the body is encoded once, in place; it slides
// down only when its length takes fewer bytes, which never happens to the small, frequent kinds.
template <typename EncodeBody>
inline uint8_t* put_length_delimited(uint8_t* out, size_t max_body, EncodeBody encode_body) {
  const size_t reserved = varint_size(max_body);
  uint8_t* body = out + reserved;
  const uint8_t* end = encode_body(body);
  if (end == nullptr) return nullptr;
  const auto length = static_cast<size_t>(end - body);
  const size_t length_bytes = varint_size(length);
  if (length_bytes != reserved) std::memmove(out + length_bytes, body, length);
  put_varint(out, length);
  return out + length_bytes + length;
}

inline uint8_t* put_scalar(Op op, const uint8_t* at, uint8_t* out) {
  if (op == Op::kFixed32 || op == Op::kFixed64) {  // little-endian, as in memory on this host
    const size_t size = op == Op::kFixed32 ? 4 : 8;
    std::memcpy(out, at, size);
    return out + size;
  }
  return put_varint(out, varint_of(op, at));
}

inline bool scalar_is_zero(Op op, const uint8_t* at) {
  switch (op) {
    case Op::kFixed32: return load<uint32_t>(at) == 0;  // the bit pattern, as protobuf checks floats
    case Op::kFixed64: return load<uint64_t>(at) == 0;
    default: return varint_of(op, at) == 0;
  }
}

uint8_t* encode_fields(const MessagePlan& plan, const uint8_t* message, uint8_t* out) {
  for (const FieldPlan& field : plan.fields) {
    const uint8_t* value = message + field.offset;
    if (field.presence == Presence::kHasFlag && message[field.presence_offset] == 0) continue;
    if (field.presence == Presence::kRepeated) {
      const auto count = load<pb_size_t>(message + field.presence_offset);
      if (count == 0) continue;
      if (count > field.array_size) return nullptr;
      out = put_varint(out, field.tag);
      const size_t max_element = field.op == Op::kFixed32 ? 4 : field.op == Op::kFixed64 ? 8 : 10;
      out = put_length_delimited(out, max_element * field.array_size, [&](uint8_t* at) {
        for (pb_size_t i = 0; i < count; ++i)
          at = put_scalar(field.op, value + size_t{i} * field.data_size, at);
        return at;
      });
      continue;
    }
    switch (field.op) {
      case Op::kString: {
        const size_t length = ::strnlen(reinterpret_cast<const char*>(value), field.array_size);
        if (length == field.array_size) return nullptr;  // no terminator: nanopb refuses it too
        if (length == 0 && field.presence == Presence::kNonZero) continue;
        out = put_varint(out, field.tag);
        out = put_varint(out, length);
        std::memcpy(out, value, length);
        out += length;
        break;
      }
      case Op::kMessage:
        out = put_varint(out, field.tag);
        out = put_length_delimited(out, field.message->max_size,
                                   [&](uint8_t* at) { return encode_fields(*field.message, value, at); });
        if (out == nullptr) return nullptr;
        break;
      default:
        if (field.presence == Presence::kNonZero && scalar_is_zero(field.op, value)) continue;
        out = put_varint(out, field.tag);
        out = put_scalar(field.op, value, out);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Plans, read once from the nanopb descriptors.

constexpr uint32_t kWireVarint = 0;
constexpr uint32_t kWireFixed64 = 1;
constexpr uint32_t kWireLength = 2;
constexpr uint32_t kWireFixed32 = 5;

// The op for a nanopb field type and size; false for what this encoder does not support.
bool op_for(pb_type_t type, size_t data_size, Op& op) {
  switch (PB_LTYPE(type)) {
    case PB_LTYPE_BOOL: op = Op::kBool; return data_size == 1;
    case PB_LTYPE_VARINT:
      op = data_size == 8 ? Op::kInt64 : Op::kInt32;
      return data_size == 4 || data_size == 8;
    case PB_LTYPE_UVARINT:
      op = data_size == 8 ? Op::kUint64 : Op::kUint32;
      return data_size == 4 || data_size == 8;
    case PB_LTYPE_SVARINT:
      op = data_size == 8 ? Op::kSint64 : Op::kSint32;
      return data_size == 4 || data_size == 8;
    case PB_LTYPE_FIXED32: op = Op::kFixed32; return data_size == 4;
    case PB_LTYPE_FIXED64: op = Op::kFixed64; return data_size == 8;
    case PB_LTYPE_STRING: op = Op::kString; return true;
    case PB_LTYPE_SUBMESSAGE: op = Op::kMessage; return true;
    default: return false;
  }
}

uint32_t wire_type(Op op, Presence presence) {
  if (presence == Presence::kRepeated || op == Op::kString || op == Op::kMessage) return kWireLength;
  if (op == Op::kFixed32) return kWireFixed32;
  if (op == Op::kFixed64) return kWireFixed64;
  return kWireVarint;
}

size_t max_value_size(const FieldPlan& field) {
  switch (field.op) {
    case Op::kBool: return 1;
    case Op::kUint32:
    case Op::kSint32: return 5;
    case Op::kFixed32: return 4;
    case Op::kFixed64: return 8;
    case Op::kString: return varint_size(field.array_size - 1) + field.array_size - 1;
    case Op::kMessage: return varint_size(field.message->max_size) + field.message->max_size;
    default: return 10;
  }
}

class Plans {
 public:
  Plans() {
    for (uint32_t number = 1; number < kRecordFieldLimit; ++number) {
      const EventKind& kind = record_kind(number);
      if (kind.fields == nullptr) continue;
      // A zeroed instance to read the field offsets from.
      std::vector<std::max_align_t> instance(kind.struct_size / sizeof(std::max_align_t) + 1);
      const MessagePlan* message =
          plan(kind.fields, reinterpret_cast<const uint8_t*>(instance.data()), kind.struct_size);
      if (message == nullptr) continue;
      const uint32_t tag = (number << 3) | kWireLength;
      const size_t record_body = varint_size(tag) + varint_size(message->max_size) + message->max_size;
      records_[number] = {message, tag, record_body, varint_size(record_body) + record_body};
    }
  }

  [[nodiscard]] const RecordPlan& record(uint32_t field_number) const {
    return field_number < kRecordFieldLimit ? records_[field_number] : records_[0];
  }

 private:
  // The plan of the message at `base` (`size` bytes); null if a field is of a kind the encoder
  // does not support (a callback, a pointer, a oneof, a repeated string...).
  const MessagePlan* plan(const pb_msgdesc_t* descriptor, const uint8_t* base, size_t size) {
    for (const auto& [known, message] : messages_) {
      if (known == descriptor) return message.get();
    }
    auto message = std::make_unique<MessagePlan>();
    pb_field_iter_t iter;
    if (pb_field_iter_begin_const(&iter, descriptor, base)) {
      do {
        if (!add_field(iter, base, size, *message)) return nullptr;
      } while (pb_field_iter_next(&iter));
    }
    messages_.emplace_back(descriptor, std::move(message));
    return messages_.back().second.get();
  }

  bool add_field(const pb_field_iter_t& iter, const uint8_t* base, size_t size, MessagePlan& message) {
    const auto offset_of = [&](const void* at) { return static_cast<const uint8_t*>(at) - base; };
    const auto inside = [&](const void* at, size_t bytes) {
      return at != nullptr && offset_of(at) >= 0 && static_cast<size_t>(offset_of(at)) + bytes <= size;
    };
    FieldPlan field;
    if (PB_ATYPE(iter.type) != PB_ATYPE_STATIC || !op_for(iter.type, iter.data_size, field.op)) return false;
    switch (PB_HTYPE(iter.type)) {
      case PB_HTYPE_SINGULAR:  // == PB_HTYPE_OPTIONAL: a has_ flag tells them apart
        field.presence = iter.pSize != nullptr ? Presence::kHasFlag : Presence::kNonZero;
        if (field.presence == Presence::kHasFlag && !inside(iter.pSize, sizeof(bool))) return false;
        // A proto3 message field without a has_ flag would need a deep emptiness check.
        if (field.presence == Presence::kNonZero && field.op == Op::kMessage) return false;
        break;
      case PB_HTYPE_REPEATED:
        field.presence = Presence::kRepeated;
        if (field.op == Op::kString || field.op == Op::kMessage || !inside(iter.pSize, sizeof(pb_size_t))) {
          return false;
        }
        break;
      default: return false;
    }
    field.offset = static_cast<uint32_t>(offset_of(iter.pData));
    field.presence_offset =
        field.presence == Presence::kNonZero ? 0 : static_cast<uint32_t>(offset_of(iter.pSize));
    field.data_size = iter.data_size;
    field.array_size = field.op == Op::kString ? iter.data_size : iter.array_size;
    if (!inside(iter.pData,
                size_t{iter.data_size} * (field.presence == Presence::kRepeated ? iter.array_size : 1)) ||
        field.array_size == 0) {
      return false;
    }
    if (field.op == Op::kMessage) {
      field.message = plan(iter.submsg_desc, static_cast<const uint8_t*>(iter.pData), iter.data_size);
      if (field.message == nullptr) return false;
    }
    field.tag = (uint32_t{iter.tag} << 3) | wire_type(field.op, field.presence);
    const size_t value = field.presence == Presence::kRepeated ? max_value_size(field) * field.array_size
                                                               : max_value_size(field);
    message.max_size +=
        varint_size(field.tag) + (field.presence == Presence::kRepeated ? varint_size(value) : 0) + value;
    message.fields.push_back(field);
    return true;
  }

  std::vector<std::pair<const pb_msgdesc_t*, std::unique_ptr<MessagePlan>>> messages_;
  std::array<RecordPlan, kRecordFieldLimit> records_{};
};

const Plans& plans() {
  // Never destroyed: the writer thread may still encode while the process exits.
  static NoDestructor<Plans> instance;
  return instance.get();
}

}  // namespace

size_t max_record_size(uint32_t field_number) {
  return plans().record(field_number).max_size;
}

size_t encode_record(uint8_t* out, size_t capacity, uint32_t field_number, const void* message) {
  const RecordPlan& plan = plans().record(field_number);
  if (plan.message == nullptr || capacity < plan.max_size || message == nullptr) return 0;
  const MessagePlan& body = *plan.message;
  const uint8_t* end = put_length_delimited(out, plan.max_body, [&](uint8_t* at) -> uint8_t* {
    at = put_varint(at, plan.tag);
    return put_length_delimited(at, body.max_size, [&](uint8_t* fields) {
      return encode_fields(body, static_cast<const uint8_t*>(message), fields);
    });
  });
  return end == nullptr ? 0 : static_cast<size_t>(end - out);
}

}  // namespace profilemate::recorder
