#include "pmlog_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <google/protobuf/stubs/logging.h>

namespace profilemate::reader {
namespace {

// No record the writer produces comes near this; a larger length is damage.
constexpr uint64_t kMaxRecordBytes = 64u << 10;
// Records that must parse in a row before a resynchronisation point is trusted.
constexpr int kResyncChain = 4;
// Corrupt spans listed individually; more are still counted in the last span's bytes.
constexpr size_t kMaxReportedSpans = 100;
// How much of a mapped log is read before its pages are handed back (a multiple of any page size).
constexpr uint64_t kReleaseBytes = 8u << 20;

struct Frame {
  uint64_t body_offset = 0;
  uint64_t body_size = 0;
  [[nodiscard]] uint64_t end() const { return body_offset + body_size; }
};

enum class FrameStatus { kOk, kTruncated, kBadLength };

FrameStatus read_frame(const uint8_t* data, uint64_t size, uint64_t offset, Frame& frame) {
  uint64_t length = 0;
  uint64_t cursor = offset;
  for (int shift = 0;; shift += 7) {
    if (cursor >= size) return FrameStatus::kTruncated;
    if (shift > 28) return FrameStatus::kBadLength;
    const uint8_t byte = data[cursor++];
    length |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  if (length == 0 || length > kMaxRecordBytes) return FrameStatus::kBadLength;
  frame = {cursor, length};
  return frame.end() <= size ? FrameStatus::kOk : FrameStatus::kTruncated;
}

class LogParser {
 public:
  // `mapped`: `data` is a read-only mapping of the file that the parser may release as it reads.
  LogParser(const uint8_t* data, uint64_t size, std::string name, bool mapped = false)
      : data_(data), size_(size), name_(std::move(name)), mapped_(mapped) {}

  LogStats run(Header& header, const RecordVisitor& visit) {
    // Damaged bytes are expected here and reported by us, not logged by libprotobuf.
    const google::protobuf::LogSilencer quiet;
    LogStats stats;
    stats.path = name_;
    stats.file_bytes = size_;
    read_header(header);
    stats.records = 1;
    uint64_t offset = first_record_;
    while (offset < size_) {
      Frame frame;
      const FrameStatus status = read_frame(data_, size_, offset, frame);
      std::string reason;
      if (status == FrameStatus::kOk &&
          record_.ParseFromArray(data_ + frame.body_offset, static_cast<int>(frame.body_size))) {
        if (record_.event_case() == Record::EVENT_NOT_SET) {
          ++stats.unknown_records;
        } else {
          visit(record_);
        }
        ++stats.records;
        offset = frame.end();
        release_before(offset);
        continue;
      }
      const uint64_t resume = resync(offset + 1);
      if (status == FrameStatus::kTruncated && resume == size_) {
        stats.torn_tail_bytes = size_ - offset;  // the writer was stopped mid-record
        break;
      }
      reason = status == FrameStatus::kOk          ? "record does not parse"
               : status == FrameStatus::kBadLength ? "implausible record length"
                                                   : "record length runs past the end of the file";
      if (stats.corrupt.size() < kMaxReportedSpans) {
        stats.corrupt.push_back({offset, resume - offset, std::move(reason)});
      } else {
        stats.corrupt.back().skipped_bytes += resume - offset;
      }
      offset = resume;
    }
    return stats;
  }

 private:
  void read_header(Header& header) {
    Frame frame;
    if (read_frame(data_, size_, 0, frame) != FrameStatus::kOk ||
        !record_.ParseFromArray(data_ + frame.body_offset, static_cast<int>(frame.body_size)) ||
        !record_.has_header()) {
      throw ReadError(name_ +
                      ": not a ProfileMate process log (it does not start with a header "
                      "record)");
    }
    header = record_.header();
    if (header.schema_version() > SCHEMA_VERSION) {
      throw ReadError(name_ + ": written with schema version " + std::to_string(header.schema_version()) +
                      " by ProfileMate " + header.tool_version() + ", but this reader knows versions up to " +
                      std::to_string(SCHEMA_VERSION) + ": use a newer profilemate");
    }
    first_record_ = frame.end();
  }

  // Drops the pages before `offset` from memory: the parser never reads behind itself, and a log
  // read once would otherwise stay resident whole, making a reader's memory grow with the log.
  void release_before(uint64_t offset) {
    if (!mapped_ || offset - released_ < kReleaseBytes) return;
    const uint64_t end = offset / kReleaseBytes * kReleaseBytes;
    ::madvise(const_cast<uint8_t*>(data_) + released_, end - released_, MADV_DONTNEED);
    released_ = end;
  }

  // The first offset at or after `from` where a run of good records starts (or that run reaches
  // the end of the file exactly); the file size if there is none.
  uint64_t resync(uint64_t from) {
    for (uint64_t candidate = from; candidate < size_; ++candidate) {
      uint64_t offset = candidate;
      int good = 0;
      while (good < kResyncChain) {
        Frame frame;
        if (read_frame(data_, size_, offset, frame) != FrameStatus::kOk ||
            !probe_.ParseFromArray(data_ + frame.body_offset, static_cast<int>(frame.body_size)) ||
            probe_.event_case() == Record::EVENT_NOT_SET) {
          break;
        }
        ++good;
        offset = frame.end();
        if (offset == size_) break;
      }
      if (good == kResyncChain || (good > 0 && offset == size_)) return candidate;
    }
    return size_;
  }

  const uint8_t* data_;
  uint64_t size_;
  std::string name_;
  bool mapped_;
  uint64_t released_ = 0;
  uint64_t first_record_ = 0;
  Record record_;
  Record probe_;
};

class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ReadError("cannot read " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      throw ReadError("cannot read " + path + ": " + std::strerror(error));
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        throw ReadError("cannot read " + path + ": " + std::strerror(error));
      }
      ::madvise(data, size_, MADV_SEQUENTIAL);
      data_ = static_cast<const uint8_t*>(data);
    }
    ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  [[nodiscard]] const uint8_t* data() const { return data_; }
  [[nodiscard]] uint64_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace

LogStats read_log_bytes(const uint8_t* data, size_t size, const std::string& name, Header& header,
                        const RecordVisitor& visit) {
  return LogParser(data, size, name).run(header, visit);
}

LogStats read_log(const std::string& path, Header& header, const RecordVisitor& visit) {
  const MappedFile file(path);
  return LogParser(file.data(), file.size(), path, /*mapped=*/true).run(header, visit);
}

}  // namespace profilemate::reader
