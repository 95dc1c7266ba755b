#include "graph_replay_wire.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "pmlog_reader.h"
#include "test_support.h"
#include "varint.h"

namespace profilemate::reader {
namespace {

using google::protobuf::util::MessageDifferencer;

// The fast path's reading of `body`, as the Record it stands for.
bool decode(const std::string& body, Record& record) {
  GraphReplayFields fields;
  if (!decode_graph_replay(reinterpret_cast<const uint8_t*>(body.data()), body.size(), fields)) return false;
  record.Clear();
  fields.to(*record.mutable_graph_replay());
  return true;
}

// A Record holding a replay, from the fields' wire bytes.
std::string replay_body(const std::string& fields) {
  std::string body(1, static_cast<char>(Record::kGraphReplayFieldNumber << 3 | 2));
  char length[10];
  body.append(length, put_varint(length, fields.size()));
  return body + fields;
}

std::string varint_field(uint32_t number, uint64_t value) {
  char bytes[20];
  char* end = put_varint(bytes, uint64_t{number} << 3);
  return {bytes, put_varint(end, value)};
}

// Replays with every combination of fields, at small, large and extreme values, read as
// libprotobuf's parse reads them.
TEST(GraphReplayWire, DecodesWhatLibprotobufDecodes) {
  std::mt19937_64 random(5);
  const auto value = [&] { return random() >> (random() % 64); };
  Record reused;
  for (int i = 0; i < 20000; ++i) {
    Record record;
    GraphReplay& replay = *record.mutable_graph_replay();
    const uint64_t fields = random();
    if ((fields & 1) != 0) replay.set_exec_id(static_cast<uint32_t>(value()));
    if ((fields & 2) != 0) replay.set_stream_id(static_cast<uint32_t>(value()));
    if ((fields & 4) != 0) replay.set_thread(static_cast<uint32_t>(value()));
    if ((fields & 8) != 0) replay.set_cpu_enter_ns(value());
    if ((fields & 16) != 0) replay.set_cpu_duration_ns(value());
    if ((fields & 32) != 0) replay.set_gpu_start_offset_ns(static_cast<int64_t>(value()) * (i % 2 ? -1 : 1));
    if ((fields & 64) != 0) replay.set_gpu_duration_ns(value());
    if ((fields & 128) != 0) replay.set_correlation_id(static_cast<uint32_t>(value()));
    if (i == 0) replay.set_gpu_start_offset_ns(INT64_MIN);
    const std::string body = record.SerializeAsString();
    ASSERT_TRUE(decode(body, reused)) << replay.ShortDebugString();
    ASSERT_TRUE(MessageDifferencer::Equals(reused, record))
        << "decoded " << reused.ShortDebugString() << "\nwritten " << record.ShortDebugString();
  }
}

// What libprotobuf accepts from other writers: fields in any order, a field twice (the last
// wins), explicit zeros, a 32-bit field given more bits (the low ones are kept).
TEST(GraphReplayWire, ReadsFieldsInAnyOrderRepeatedOrWiderAsLibprotobufDoes) {
  const std::vector<std::string> bodies = {
      replay_body(varint_field(7, 5) + varint_field(1, 3) + varint_field(4, 10)),
      replay_body(varint_field(1, 3) + varint_field(1, 4)),
      replay_body(varint_field(2, 0) + varint_field(6, 0)),
      replay_body(varint_field(1, (uint64_t{1} << 40) + 9)),
      replay_body(""),
  };
  Record reused;
  for (const std::string& body : bodies) {
    Record expected;
    ASSERT_TRUE(expected.ParseFromString(body));
    ASSERT_TRUE(decode(body, reused));
    EXPECT_TRUE(MessageDifferencer::Equals(reused, expected))
        << "decoded " << reused.ShortDebugString() << "\nlibprotobuf " << expected.ShortDebugString();
  }
}

// Anything but a replay of known varint fields is left to libprotobuf: another kind, a field from
// a newer writer, a length-delimited field, damage, bytes after the replay.
TEST(GraphReplayWire, DeclinesAnythingElse) {
  Record kv;
  kv.mutable_kv_usage()->set_used_blocks(3);
  const std::string replay = replay_body(varint_field(1, 3));
  const std::vector<std::pair<std::string, std::string>> declined = {
      {"another kind", kv.SerializeAsString()},
      {"a field from a newer writer", replay_body(varint_field(1, 3) + varint_field(9, 1))},
      {"a length-delimited field", replay_body(std::string("\x0a\x01x", 3))},
      {"a varint cut short", replay_body(std::string("\x20\xff", 2))},
      {"a length past the end", replay.substr(0, replay.size() - 1)},
      {"bytes after the replay", replay + varint_field(2, 1)},
      {"nothing", ""},
  };
  for (const auto& [what, body] : declined) {
    Record record;
    EXPECT_FALSE(decode(body, record)) << what;
  }
}

// Through the reader: replays between other kinds, one with a field from a newer writer (kept as
// libprotobuf keeps it), all visited as libprotobuf parses them.
TEST(GraphReplayWire, TheReaderVisitsEveryRecordAsLibprotobufParsesIt) {
  std::vector<Record> records;
  for (uint32_t i = 0; i < 6; ++i) {
    Record record;
    if (i == 3) {
      record.mutable_kv_usage()->set_used_blocks(i);
    } else {
      record.mutable_graph_replay()->set_exec_id(i + 1);
      record.mutable_graph_replay()->set_cpu_enter_ns(1000 * i);
    }
    records.push_back(record);
  }
  Header header;
  header.set_schema_version(SCHEMA_VERSION);
  header.set_pid(1);
  std::string bytes = testing::log_bytes(header, records);
  const std::string newer = replay_body(varint_field(1, 77) + varint_field(9, 1));
  char length[10];
  bytes.append(length, put_varint(length, newer.size()));
  bytes += newer;
  Record expected_newer;
  ASSERT_TRUE(expected_newer.ParseFromString(newer));
  records.push_back(expected_newer);

  // As Records only, and with the fast path's replays going to a visitor of their own.
  for (const bool replay_visitor : {false, true}) {
    std::vector<Record> visited;
    size_t fast = 0;
    Header read_header;
    read_log_bytes(
        reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.pmlog", read_header,
        [&](Record& record) { visited.push_back(record); },
        replay_visitor ? ReplayVisitor([&](const GraphReplayFields& fields) {
          Record record;
          fields.to(*record.mutable_graph_replay());
          visited.push_back(record);
          ++fast;
        })
                       : ReplayVisitor());
    ASSERT_EQ(visited.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_TRUE(MessageDifferencer::Equals(visited[i], records[i]))
          << "record " << i << (replay_visitor ? " (replay visitor)" : "") << ": visited "
          << visited[i].ShortDebugString() << "\nwritten " << records[i].ShortDebugString();
    }
    EXPECT_EQ(fast, replay_visitor ? 5u : 0u) << "the replays the fast path reads (not the newer writer's)";
  }
}

}  // namespace
}  // namespace profilemate::reader
