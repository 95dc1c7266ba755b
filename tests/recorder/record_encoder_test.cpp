// Every event kind goes through the in-process path (nanopb struct, our framing encoder) and
// comes back whole through libprotobuf: the two generators of the one schema agree.
#include "record_encoder.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <pb_decode.h>

#include <array>

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

struct NanoKind {
  const pb_msgdesc_t* fields;
  size_t size;
};

NanoKind nano_kind(int field_number) {
  if (field_number == Record::kHeader) return {profilemate_Header_fields, sizeof(profilemate_Header)};
  const EventKind& kind = event_kind(static_cast<uint32_t>(field_number));
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
    const size_t written = encode_record(out.data(), out.size(), member->number(), kind.fields, nano.data());
    ASSERT_GT(written, 0u);
    const Record parsed = parse_framed(out.data(), written);
    std::string differences;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differ.Compare(original, parsed)) << differences;
  }
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
  std::array<uint8_t, 64> out{};
  const size_t written = encode_record(out.data(), out.size(), profilemate_Record_graph_replay_tag,
                                       profilemate_GraphReplay_fields, &replay);
  EXPECT_GT(written, 0u);
  EXPECT_LE(written, 32u);
  const Record parsed = parse_framed(out.data(), written);
  EXPECT_EQ(parsed.graph_replay().cpu_enter_ns(), replay.cpu_enter_ns);
  EXPECT_EQ(parsed.graph_replay().gpu_start_offset_ns(), 40'000);
}

TEST(RecordEncoder, ReportsARecordThatDoesNotFitInsteadOfWritingPastTheBuffer) {
  profilemate_Notice notice = profilemate_Notice_init_zero;
  std::fill(notice.message, notice.message + sizeof notice.message - 1, 'x');
  std::array<uint8_t, 64> out{};
  EXPECT_EQ(encode_record(out.data(), out.size(), profilemate_Record_notice_tag, profilemate_Notice_fields,
                          &notice),
            0u);
}

}  // namespace
}  // namespace profilemate::recorder
