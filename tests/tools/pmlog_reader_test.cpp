#include "pmlog_reader.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include "session_files.h"
#include "test_support.h"

namespace profilemate::reader {
namespace {

using testing::frame;
using testing::log_bytes;

Header test_header(uint32_t schema_version = SCHEMA_VERSION) {
  Header header;
  header.set_schema_version(schema_version);
  header.set_tool_version("9.9.9");
  header.set_pid(42);
  header.set_start_realtime_ns(1'000'000'000);
  return header;
}

Record kv_sample(uint32_t used) {
  Record record;
  record.mutable_kv_usage()->set_used_blocks(used);
  record.mutable_kv_usage()->set_total_blocks(1000);
  return record;
}

std::vector<Record> ten_samples() {
  std::vector<Record> records;
  for (uint32_t i = 1; i <= 10; ++i) records.push_back(kv_sample(i));
  return records;
}

struct Read {
  LogStats stats;
  Header header;
  std::vector<uint32_t> used;  // kv_usage.used_blocks of each record visited
};

Read read(const std::string& bytes) {
  Read result;
  result.stats = read_log_bytes(
      reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "test.pmlog", result.header,
      [&](Record& record) { result.used.push_back(record.kv_usage().used_blocks()); });
  return result;
}

std::vector<uint32_t> one_to(uint32_t n, uint32_t except = 0) {
  std::vector<uint32_t> values;
  for (uint32_t i = 1; i <= n; ++i) {
    if (i != except) values.push_back(i);
  }
  return values;
}

TEST(PmlogReader, VisitsEveryRecordAfterTheHeaderInFileOrder) {
  const Read result = read(log_bytes(test_header(), ten_samples()));
  EXPECT_EQ(result.header.pid(), 42u);
  EXPECT_EQ(result.used, one_to(10));
  EXPECT_EQ(result.stats.records, 11u);
  EXPECT_EQ(result.stats.torn_tail_bytes, 0u);
  EXPECT_TRUE(result.stats.corrupt.empty());
}

TEST(PmlogReader, SkipsAndMeasuresATornLastRecordWhereverTheCutFalls) {
  const std::string whole = log_bytes(test_header(), ten_samples());
  const size_t last = frame(kv_sample(10)).size();
  for (size_t kept = 1; kept < last; ++kept) {
    const std::string cut = whole.substr(0, whole.size() - last + kept);
    const Read result = read(cut);
    EXPECT_EQ(result.used, one_to(9)) << "cut " << kept << " bytes into the last record";
    EXPECT_EQ(result.stats.torn_tail_bytes, kept);
    EXPECT_TRUE(result.stats.corrupt.empty()) << "a torn tail is not corruption";
  }
}

TEST(PmlogReader, ReportsACorruptRecordInTheMiddleAtItsOffsetAndReadsEverythingAfterIt) {
  std::string bytes = log_bytes(test_header(), ten_samples());
  const std::vector<testing::FramedRecord> frames = testing::frames_of(bytes);
  const testing::FramedRecord& fifth = frames[5];  // frames[0] is the header
  // Garbage in the body, the length left intact: wire type 7 does not exist.
  for (uint64_t i = 1; i < fifth.size; ++i) bytes[fifth.offset + i] = '\xff';
  const Read result = read(bytes);
  EXPECT_EQ(result.used, one_to(10, 5));
  ASSERT_EQ(result.stats.corrupt.size(), 1u);
  EXPECT_EQ(result.stats.corrupt[0].offset, fifth.offset);
  EXPECT_EQ(result.stats.corrupt[0].skipped_bytes, fifth.size);
  EXPECT_EQ(result.stats.torn_tail_bytes, 0u);
}

TEST(PmlogReader, ResynchronisesAfterADamagedLengthPrefix) {
  std::string bytes = log_bytes(test_header(), ten_samples());
  const testing::FramedRecord third = testing::frames_of(bytes)[3];
  bytes[third.offset] = '\x7f';  // claims 127 bytes
  const Read result = read(bytes);
  EXPECT_EQ(result.used, one_to(10, 3));
  ASSERT_EQ(result.stats.corrupt.size(), 1u);
  EXPECT_EQ(result.stats.corrupt[0].offset, third.offset);
}

TEST(PmlogReader, CountsAndSkipsRecordKindsFromANewerWriter) {
  std::string bytes = log_bytes(test_header(), {kv_sample(1)});
  const std::string unknown = {'\x9a', '\x06', '\x02', '\x08', '\x01'};  // field 99 {field 1: 1}
  bytes += static_cast<char>(unknown.size()) + unknown;
  bytes += frame(kv_sample(2));
  const Read result = read(bytes);
  EXPECT_EQ(result.used, one_to(2));
  EXPECT_EQ(result.stats.unknown_records, 1u);
  EXPECT_TRUE(result.stats.corrupt.empty());
}

TEST(PmlogReader, RefusesALogFromANewerSchemaVersionWithAOneLineReason) {
  try {
    read(log_bytes(test_header(SCHEMA_VERSION + 1), ten_samples()));
    FAIL() << "a newer schema must be refused";
  } catch (const ReadError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("test.pmlog"), std::string::npos) << message;
    EXPECT_NE(message.find("newer profilemate"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

// ---------------------------------------------------------------------------------------------
// Compressed logs: the header as it is, then zstd frames of whole records.

std::vector<Record> thirty_samples() {
  std::vector<Record> records;
  for (uint32_t i = 1; i <= 30; ++i) records.push_back(kv_sample(i));
  return records;
}

// Where each zstd frame of a compressed log starts, and its size.
std::vector<std::pair<size_t, size_t>> zstd_frames(const std::string& bytes) {
  std::vector<std::pair<size_t, size_t>> frames;
  size_t offset = testing::frames_of(bytes.substr(0, 128))[0].size;
  while (offset < bytes.size()) {
    const size_t size = ZSTD_findFrameCompressedSize(bytes.data() + offset, bytes.size() - offset);
    EXPECT_FALSE(ZSTD_isError(size));
    frames.emplace_back(offset, size);
    offset += size;
  }
  return frames;
}

TEST(PmlogReader, ReadsACompressedLogFrameByFrameAsItReadsAPlainOne) {
  const std::string compressed = testing::compressed_log(log_bytes(test_header(), thirty_samples()), 10);
  ASSERT_EQ(zstd_frames(compressed).size(), 3u);
  const Read result = read(compressed);
  EXPECT_EQ(result.header.compression(), COMPRESSION_ZSTD);
  EXPECT_EQ(result.used, one_to(30));
  EXPECT_EQ(result.stats.records, 31u);
  EXPECT_EQ(result.stats.torn_tail_bytes, 0u);
  EXPECT_TRUE(result.stats.corrupt.empty());
}

TEST(PmlogReader, ATornLastFrameLosesOnlyItsOwnRecordsWhereverTheCutFalls) {
  const std::string whole = testing::compressed_log(log_bytes(test_header(), thirty_samples()), 10);
  const auto [last, last_size] = zstd_frames(whole).back();
  for (size_t kept = 1; kept < last_size; ++kept) {
    const Read result = read(whole.substr(0, last + kept));
    EXPECT_EQ(result.used, one_to(20)) << "cut " << kept << " bytes into the last frame";
    EXPECT_EQ(result.stats.torn_tail_bytes, kept);
    EXPECT_TRUE(result.stats.corrupt.empty()) << "a torn tail is not corruption";
  }
}

TEST(PmlogReader, ACorruptFrameInTheMiddleIsReportedAtItsOffsetAndTheNextFramesAreRead) {
  const std::string whole = testing::compressed_log(log_bytes(test_header(), thirty_samples()), 10);
  const auto [second, second_size] = zstd_frames(whole)[1];
  for (size_t at = 0; at < second_size; ++at) {
    std::string bytes = whole;
    bytes[second + at] = static_cast<char>(bytes[second + at] ^ 0x5a);
    const Read result = read(bytes);
    std::vector<uint32_t> expected = one_to(10);
    for (uint32_t i = 21; i <= 30; ++i) expected.push_back(i);
    EXPECT_EQ(result.used, expected) << "byte " << at << " of the second frame changed";
    ASSERT_EQ(result.stats.corrupt.size(), 1u) << "byte " << at;
    EXPECT_EQ(result.stats.corrupt[0].offset, second) << "byte " << at;
    EXPECT_EQ(result.stats.corrupt[0].skipped_bytes, second_size) << "byte " << at;
    EXPECT_EQ(result.stats.torn_tail_bytes, 0u);
  }
}

TEST(PmlogReader, RefusesALogCompressedWithAnUnknownMethodWithAOneLineReason) {
  Header header = test_header();
  header.set_compression(static_cast<Compression>(7));
  try {
    read(log_bytes(header, ten_samples()));
    FAIL() << "an unknown compression must be refused";
  } catch (const ReadError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("test.pmlog"), std::string::npos) << message;
    EXPECT_NE(message.find("newer profilemate"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(PmlogReader, RefusesAFileThatIsNotAProfileMateLog) {
  for (const std::string& bytes : {std::string(), std::string("hello, world\n"), frame(kv_sample(1))}) {
    EXPECT_THROW(read(bytes), ReadError) << bytes.size() << " bytes";
  }
}

TEST(PmlogReader, NamesAFileThatCannotBeRead) {
  Header header;
  try {
    read_log("/nonexistent/process_1.pmlog", header, [](Record&) {});
    FAIL();
  } catch (const ReadError& error) {
    EXPECT_NE(std::string(error.what()).find("cannot read /nonexistent/process_1.pmlog"), std::string::npos);
  }
}

TEST(SessionFiles, ListsTheProcessLogsOfASessionSorted) {
  testing::TempDir dir;
  testing::write_file(dir / "process_9.pmlog", "");
  testing::write_file(dir / "process_10.pmlog", "");
  testing::write_file(dir / "notes.txt", "");
  EXPECT_EQ(session_log_files(dir.path()),
            (std::vector<std::string>{dir / "process_10.pmlog", dir / "process_9.pmlog"}));
}

TEST(SessionFiles, SaysPlainlyWhenADirectoryIsNotASession) {
  testing::TempDir dir;
  try {
    session_log_files(dir.path());
    FAIL();
  } catch (const ReadError& error) {
    EXPECT_NE(std::string(error.what()).find("is not a ProfileMate session"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(session_log_files(dir / "missing"), ReadError);
}

}  // namespace
}  // namespace profilemate::reader
