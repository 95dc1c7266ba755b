// Every event kind goes through the in-process path (nanopb struct, the recorder's encoder) and
// comes back whole through libprotobuf, byte for byte what nanopb's own encoder writes: the two
// generators of the one schema and the encoder agree.
#include "record_encoder.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <pb_common.h>
#include <pb_decode.h>
#include <pb_encode.h>

#include <array>
#include <cstring>

#include "event_kinds.h"
#include "profilemate.npb.h"
#include "profilemate.pb.h"

namespace profilemate::recorder {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Gives every field a distinct value that is not its default, so a field the in-process path
// dropped would show up as a difference.
void fill_every_field(Message& message, int salt) {
  const Descriptor* descriptor = message.GetDescriptor();
  const Reflection* reflection = message.GetReflection();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const int value = salt * 100 + field->number();
    const std::string text = "v" + std::to_string(value) + "-\xc3\xa9";  // short, and not ASCII-only
    if (field->is_repeated()) {
      ASSERT_EQ(field->cpp_type(), FieldDescriptor::CPPTYPE_UINT32) << field->full_name();
      for (int k = 1; k <= 3; ++k) reflection->AddUInt32(&message, field, static_cast<uint32_t>(value * k));
      continue;
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_UINT32: reflection->SetUInt32(&message, field, value); break;
      case FieldDescriptor::CPPTYPE_UINT64:
        reflection->SetUInt64(&message, field, (1ull << 40) + value);
        break;
      case FieldDescriptor::CPPTYPE_INT32: reflection->SetInt32(&message, field, -value); break;
      case FieldDescriptor::CPPTYPE_INT64: reflection->SetInt64(&message, field, -(1ll << 35) - value); break;
      case FieldDescriptor::CPPTYPE_BOOL: reflection->SetBool(&message, field, true); break;
      case FieldDescriptor::CPPTYPE_FLOAT:
        reflection->SetFloat(&message, field, 0.5f + static_cast<float>(value));
        break;
      case FieldDescriptor::CPPTYPE_STRING: reflection->SetString(&message, field, text); break;
      case FieldDescriptor::CPPTYPE_ENUM: {
        const auto* type = field->enum_type();
        reflection->SetEnum(&message, field, type->value(type->value_count() - 1));
        break;
      }
      case FieldDescriptor::CPPTYPE_MESSAGE:
        fill_every_field(*reflection->MutableMessage(&message, field), salt + 1);
        break;
      default: FAIL() << "no test value for " << field->full_name();
    }
  }
}

// Parses one length-delimited Record from the encoder's output.
Record parse_framed(const uint8_t* data, size_t size) {
  uint64_t length = 0;
  size_t used = 0;
  for (int shift = 0; used < size; shift += 7) {
    const uint8_t byte = data[used++];
    length |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  EXPECT_EQ(used + length, size) << "the frame length must cover exactly the record";
  Record record;
  EXPECT_TRUE(record.ParseFromArray(data + used, static_cast<int>(length)));
  return record;
}

// nanopb's own encoding of the message: the oracle for the record's body.
std::string nanopb_body(const pb_msgdesc_t* fields, const void* message) {
  std::string bytes(8192, '\0');
  pb_ostream_t stream = pb_ostream_from_buffer(reinterpret_cast<pb_byte_t*>(bytes.data()), bytes.size());
  EXPECT_TRUE(pb_encode(&stream, fields, message)) << PB_GET_ERROR(&stream);
  bytes.resize(stream.bytes_written);
  return bytes;
}

// The message inside a framed record, as the bytes written (libprotobuf must parse the record).
std::string body_of(const uint8_t* data, size_t size, int field_number) {
  EXPECT_EQ(parse_framed(data, size).event_case(), field_number);
  size_t at = 0;
  const auto varint = [&] {
    uint64_t value = 0;
    for (int shift = 0; at < size; shift += 7) {
      const uint8_t byte = data[at++];
      value |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) break;
    }
    return value;
  };
  varint();  // record length
  EXPECT_EQ(varint(), (uint64_t(field_number) << 3) | 2) << "the record's tag";
  const uint64_t length = varint();
  EXPECT_EQ(at + length, size) << "the message length must cover the rest of the record";
  return {reinterpret_cast<const char*>(data) + at, std::min<size_t>(length, size - at)};
}

struct NanoKind {
  const pb_msgdesc_t* fields;
  size_t size;
};

NanoKind nano_kind(int field_number) {
  const EventKind& kind = record_kind(static_cast<uint32_t>(field_number));
  return {kind.fields, kind.struct_size};
}

TEST(RecordEncoder, EveryEventKindRoundTripsThroughNanopbAndLibprotobuf) {
  const google::protobuf::OneofDescriptor* oneof = Record::descriptor()->FindOneofByName("event");
  ASSERT_NE(oneof, nullptr);
  ASSERT_GE(oneof->field_count(), 20);
  for (int i = 0; i < oneof->field_count(); ++i) {
    const FieldDescriptor* member = oneof->field(i);
    SCOPED_TRACE(member->name());
    Record original;
    const Reflection* reflection = Record::GetReflection();
    fill_every_field(*reflection->MutableMessage(&original, member), 1);
    const std::string event_bytes = reflection->GetMessage(original, member).SerializeAsString();

    const NanoKind kind = nano_kind(member->number());
    ASSERT_NE(kind.fields, nullptr) << "no in-process encoder for this kind";
    alignas(8) std::array<uint8_t, 8192> nano{};
    ASSERT_LE(kind.size, nano.size());
    pb_istream_t in =
        pb_istream_from_buffer(reinterpret_cast<const pb_byte_t*>(event_bytes.data()), event_bytes.size());
    ASSERT_TRUE(pb_decode(&in, kind.fields, nano.data())) << PB_GET_ERROR(&in);

    std::array<uint8_t, 8192> out{};
    const size_t written = encode_record(out.data(), out.size(), member->number(), nano.data());
    ASSERT_GT(written, 0u);
    EXPECT_LE(written, max_record_size(member->number()));
    const Record parsed = parse_framed(out.data(), written);
    std::string differences;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differ.Compare(original, parsed)) << differences;
    EXPECT_EQ(body_of(out.data(), written, member->number()), nanopb_body(kind.fields, nano.data()));
  }
}

// Sets every field of a nanopb struct through nanopb's own field iterator: has_ flags on,
// repeated fields full, strings at their longest, and each scalar's bytes to `low` with the top
// byte `high` (0xff/0xff: the largest unsigned and -1; 0x00/0x80: the most negative signed).
void fill_extremes(const pb_msgdesc_t* fields, void* message, uint8_t low, uint8_t high) {
  pb_field_iter_t iter;
  if (!pb_field_iter_begin(&iter, fields, message)) return;
  do {
    const bool repeated = PB_HTYPE(iter.type) == PB_HTYPE_REPEATED;
    if (repeated) {
      *static_cast<pb_size_t*>(iter.pSize) = iter.array_size;
    } else if (iter.pSize != nullptr) {
      *static_cast<bool*>(iter.pSize) = true;
    }
    for (size_t i = 0; i < (repeated ? iter.array_size : 1); ++i) {
      auto* value = static_cast<uint8_t*>(iter.pData) + i * iter.data_size;
      switch (PB_LTYPE(iter.type)) {
        case PB_LTYPE_BOOL: *value = 1; break;
        case PB_LTYPE_STRING:
          std::memset(value, 'x', iter.data_size - 1);
          value[iter.data_size - 1] = '\0';
          break;
        case PB_LTYPE_SUBMESSAGE: fill_extremes(iter.submsg_desc, value, low, high); break;
        default: std::memset(value, low, iter.data_size); value[iter.data_size - 1] = high;
      }
    }
  } while (pb_field_iter_next(&iter));
}

TEST(RecordEncoder, EveryFieldOfEveryKindAtItsExtremesEncodesAsNanopbDoes) {
  const google::protobuf::OneofDescriptor* oneof = Record::descriptor()->FindOneofByName("event");
  struct Pattern {
    uint8_t low, high;
  };
  for (const Pattern pattern :
       {Pattern{0xff, 0xff}, Pattern{0x00, 0x80}, Pattern{0xff, 0x7f}, Pattern{0x01, 0x00}}) {
    for (int i = 0; i < oneof->field_count(); ++i) {
      const int number = oneof->field(i)->number();
      SCOPED_TRACE(oneof->field(i)->name() + " with bytes " + std::to_string(pattern.low) + "/" +
                   std::to_string(pattern.high));
      const NanoKind kind = nano_kind(number);
      alignas(8) std::array<uint8_t, 8192> nano{};
      fill_extremes(kind.fields, nano.data(), pattern.low, pattern.high);
      std::array<uint8_t, 8192> out{};
      const size_t written = encode_record(out.data(), out.size(), number, nano.data());
      ASSERT_GT(written, 0u);
      EXPECT_LE(written, max_record_size(number)) << "the size bound must hold for the largest record";
      EXPECT_EQ(body_of(out.data(), written, number), nanopb_body(kind.fields, nano.data()));
    }
  }
}

TEST(RecordEncoder, ZeroScalarsAreLeftOutUnlessTheirPresenceIsFlagged) {
  profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
  std::array<uint8_t, 128> out{};
  size_t written = encode_record(out.data(), out.size(), profilemate_Record_graph_replay_tag, &replay);
  EXPECT_EQ(written, 3u) << "record length, tag and an empty message";
  EXPECT_FALSE(parse_framed(out.data(), written).graph_replay().has_gpu_duration_ns());

  replay.has_gpu_start_offset_ns = true;
  replay.has_gpu_duration_ns = true;
  written = encode_record(out.data(), out.size(), profilemate_Record_graph_replay_tag, &replay);
  const Record parsed = parse_framed(out.data(), written);
  EXPECT_TRUE(parsed.graph_replay().has_gpu_start_offset_ns());
  EXPECT_TRUE(parsed.graph_replay().has_gpu_duration_ns());
  EXPECT_EQ(body_of(out.data(), written, Record::kGraphReplay),
            nanopb_body(profilemate_GraphReplay_fields, &replay));
}

TEST(RecordEncoder, RefusesMalformedStructsAsNanopbDoes) {
  profilemate_Notice notice = profilemate_Notice_init_zero;
  std::memset(notice.source, 'x', sizeof notice.source);  // no terminator
  std::array<uint8_t, 512> out{};
  EXPECT_EQ(encode_record(out.data(), out.size(), profilemate_Record_notice_tag, &notice), 0u);

  profilemate_MoeExpertCounts counts = profilemate_MoeExpertCounts_init_zero;
  counts.counts_count = std::size(counts.counts) + 1;
  std::array<uint8_t, 4096> big{};
  EXPECT_EQ(encode_record(big.data(), big.size(), profilemate_Record_moe_expert_counts_tag, &counts), 0u);
  EXPECT_EQ(encode_record(big.data(), big.size(), 99, &counts), 0u) << "not a record kind";
}

TEST(RecordEncoder, KnowsEveryRecordKindExceptTheHeaderAsRecordable) {
  const google::protobuf::OneofDescriptor* oneof = Record::descriptor()->FindOneofByName("event");
  for (int i = 0; i < oneof->field_count(); ++i) {
    const int number = oneof->field(i)->number();
    EXPECT_EQ(event_kind(number).fields == nullptr, number == Record::kHeader) << oneof->field(i)->name();
  }
  EXPECT_EQ(event_kind(0).fields, nullptr);
  EXPECT_EQ(event_kind(999).fields, nullptr);
}

TEST(RecordEncoder, AGraphReplayTakesAtMost32BytesOnDiskEvenTenHoursIn) {
  profilemate_GraphReplay replay = profilemate_GraphReplay_init_zero;
  replay.exec_id = 60;
  replay.stream_id = 7;
  replay.thread = 3;
  replay.cpu_enter_ns = 10ull * 3600 * 1'000'000'000;
  replay.cpu_duration_ns = 25'000;
  replay.has_gpu_start_offset_ns = true;
  replay.gpu_start_offset_ns = 40'000;
  replay.has_gpu_duration_ns = true;
  replay.gpu_duration_ns = 12'000'000;
  std::array<uint8_t, 128> out{};
  const size_t written = encode_record(out.data(), out.size(), profilemate_Record_graph_replay_tag, &replay);
  EXPECT_GT(written, 0u);
  EXPECT_LE(written, 32u);
  const Record parsed = parse_framed(out.data(), written);
  EXPECT_EQ(parsed.graph_replay().cpu_enter_ns(), replay.cpu_enter_ns);
  EXPECT_EQ(parsed.graph_replay().gpu_start_offset_ns(), 40'000);
}

TEST(RecordEncoder, ReportsARecordThatMayNotFitInsteadOfWritingPastTheBuffer) {
  profilemate_Notice notice = profilemate_Notice_init_zero;
  std::fill(notice.message, notice.message + sizeof notice.message - 1, 'x');
  std::vector<uint8_t> out(max_record_size(profilemate_Record_notice_tag) + 1, 0xab);
  EXPECT_EQ(encode_record(out.data(), out.size() - 2, profilemate_Record_notice_tag, &notice), 0u);
  EXPECT_EQ(out[0], 0xab) << "nothing written";
  const size_t written = encode_record(out.data(), out.size() - 1, profilemate_Record_notice_tag, &notice);
  EXPECT_GT(written, 0u);
  EXPECT_EQ(out.back(), 0xab) << "nothing written past the capacity";
}

}  // namespace
}  // namespace profilemate::recorder
