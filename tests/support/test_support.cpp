#include "test_support.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "pmlog_reader.h"

namespace profilemate::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/profilemate_test_XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

pid_t start_child(const std::map<std::string, std::string>& env, const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    std::exit(body());
  }
  return pid;
}

ChildResult wait_child(pid_t pid) {
  ChildResult result;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return result;
  result.exited = WIFEXITED(status);
  result.exit_code = result.exited ? WEXITSTATUS(status) : -1;
  result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return result;
}

ChildResult run_in_child(const std::map<std::string, std::string>& env, const std::function<int()>& body) {
  return wait_child(start_child(env, body));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<std::string> files_with_suffix(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<Record> read_records(const std::string& path) {
  std::vector<Record> records(1);
  const reader::LogStats stats = reader::read_log(path, *records.front().mutable_header(),
                                                  [&](Record& record) { records.push_back(record); });
  EXPECT_EQ(stats.torn_tail_bytes, 0u) << path;
  EXPECT_TRUE(stats.corrupt.empty()) << path;
  EXPECT_EQ(stats.unknown_records, 0u) << path;
  return records;
}

std::string frame(const Record& record) {
  std::string bytes;
  uint64_t length = record.ByteSizeLong();
  while (length >= 0x80) {
    bytes.push_back(static_cast<char>(length | 0x80));
    length >>= 7;
  }
  bytes.push_back(static_cast<char>(length));
  return bytes + record.SerializeAsString();
}

std::string log_bytes(const Header& header, const std::vector<Record>& records) {
  Record first;
  *first.mutable_header() = header;
  std::string bytes = frame(first);
  for (const Record& record : records) bytes += frame(record);
  return bytes;
}

std::vector<FramedRecord> frames_of(const std::string& bytes) {
  std::vector<FramedRecord> frames;
  size_t offset = 0;
  while (offset < bytes.size()) {
    uint64_t length = 0;
    size_t cursor = offset;
    for (int shift = 0; cursor < bytes.size(); shift += 7) {
      const auto byte = static_cast<uint8_t>(bytes[cursor++]);
      length |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) break;
    }
    Record record;
    record.ParseFromArray(bytes.data() + cursor, static_cast<int>(length));
    frames.push_back({offset, cursor - offset + length, record.event_case()});
    offset = cursor + length;
  }
  return frames;
}

std::string compressed_log(const std::string& plain_log, size_t records_per_frame) {
  const std::vector<FramedRecord> records = frames_of(plain_log);
  Record header;
  uint64_t length = 0;
  size_t cursor = 0;
  for (int shift = 0;; shift += 7) {
    const auto byte = static_cast<uint8_t>(plain_log[cursor++]);
    length |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  EXPECT_TRUE(header.ParseFromArray(plain_log.data() + cursor, static_cast<int>(length)));
  header.mutable_header()->set_compression(COMPRESSION_ZSTD);
  std::string bytes = frame(header);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> context(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 1);
  for (size_t first = 1; first < records.size(); first += records_per_frame) {
    const size_t last = std::min(records.size(), first + records_per_frame) - 1;
    const uint64_t begin = records[first].offset;
    const uint64_t end = records[last].offset + records[last].size;
    std::string compressed(ZSTD_compressBound(end - begin), '\0');
    const size_t n = ZSTD_compress2(context.get(), compressed.data(), compressed.size(),
                                    plain_log.data() + begin, end - begin);
    EXPECT_FALSE(ZSTD_isError(n));
    bytes.append(compressed.data(), n);
  }
  return bytes;
}

std::string source_dir() {
  return PROFILEMATE_TEST_SOURCE_DIR;
}

CommandResult run_command(const std::string& command_line) {
  TempDir capture;
  const std::string command = command_line + " >" + (capture / "out") + " 2>" + (capture / "err");
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(capture / "out"),
          read_file(capture / "err")};
}

std::string first_difference(const std::string& expected, const std::string& actual) {
  std::istringstream want(expected);
  std::istringstream got(actual);
  std::string a;
  std::string b;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(want, a));
    const bool more_b = static_cast<bool>(std::getline(got, b));
    if (!more_a && !more_b) return "same lines, different line endings";
    if (a != b || more_a != more_b) {
      return "line " + std::to_string(line) + "\n  expected: " + (more_a ? a : "<end>") +
             "\n  actual:   " + (more_b ? b : "<end>");
    }
  }
}

}  // namespace profilemate::testing
