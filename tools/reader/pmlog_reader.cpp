#include "pmlog_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <google/protobuf/stubs/logging.h>

namespace profilemate::reader {
namespace {

// No record the writer produces comes near this; a larger length is damage.
constexpr uint64_t kMaxRecordBytes = 64u << 10;
// Records that must parse in a row before a resynchronisation point is trusted.
constexpr int kResyncChain = 4;
// Corrupt spans listed individually; more are still counted in the last span's bytes.
constexpr size_t kMaxReportedSpans = 100;

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

// Decompresses one zstd frame at a time into a buffer bounded by the largest frame accepted.
class FrameDecoder {
 public:
  enum class Status { kOk, kTruncated, kBad };
  struct Result {
    Status status = Status::kBad;
    uint64_t frame_bytes = 0;  // compressed, when kOk
    std::string reason;
  };

  FrameDecoder() : context_(ZSTD_createDCtx()) {}

  Result decode(const uint8_t* data, uint64_t available) {
    const size_t frame_bytes = ZSTD_findFrameCompressedSize(data, available);
    if (ZSTD_isError(frame_bytes)) {
      return {ZSTD_getErrorCode(frame_bytes) == ZSTD_error_srcSize_wrong ? Status::kTruncated : Status::kBad,
              0, std::string("not a whole zstd frame (") + ZSTD_getErrorName(frame_bytes) + ")"};
    }
    const unsigned long long content = ZSTD_getFrameContentSize(data, frame_bytes);
    if (content == ZSTD_CONTENTSIZE_UNKNOWN || content == ZSTD_CONTENTSIZE_ERROR ||
        content > kMaxFrameBytes) {
      return {Status::kBad, 0, "implausible zstd frame size"};
    }
    output_.resize(content);
    const size_t n = ZSTD_decompressDCtx(context_.get(), output_.data(), output_.size(), data, frame_bytes);
    if (ZSTD_isError(n) || n != content) {
      return {Status::kBad, 0,
              std::string("zstd frame does not decompress (") +
                  (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short") + ")"};
    }
    return {Status::kOk, frame_bytes, {}};
  }

  [[nodiscard]] const std::vector<uint8_t>& output() const { return output_; }

 private:
  // The writer's frames hold at most its 1 MiB buffer; far more than that is damage.
  static constexpr uint64_t kMaxFrameBytes = 64u << 20;
  struct ContextDeleter {
    void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
  };
  std::unique_ptr<ZSTD_DCtx, ContextDeleter> context_;
  std::vector<uint8_t> output_;
};

// Called as reading passes `offset` in the file: the bytes before it are never read again.
using ReleaseBehind = std::function<void(uint64_t offset)>;

class LogParser {
 public:
  LogParser(const uint8_t* data, uint64_t size, std::string name, ReleaseBehind release = {},
            const ReplayVisitor* replay = nullptr)
      : data_(data), size_(size), name_(std::move(name)), release_(std::move(release)), replay_(replay) {}

  LogStats run(Header& header, const RecordVisitor& visit) {
    // Damaged bytes are expected here and reported by us, not logged by libprotobuf.
    const google::protobuf::LogSilencer quiet;
    LogStats stats;
    stats.path = name_;
    stats.file_bytes = size_;
    read_header(header);
    stats.records = 1;
    if (header.compression() == COMPRESSION_ZSTD) {
      read_frames(stats, visit);
    } else {
      const Damage damage = read_records({data_, size_}, first_record_, stats, visit);
      for (const CorruptSpan& span : damage.corrupt) add_span(stats, span);
      stats.torn_tail_bytes = damage.torn_tail_bytes;
    }
    return stats;
  }

 private:
  struct Bytes {
    const uint8_t* data;
    uint64_t size;
  };
  struct Damage {
    std::vector<CorruptSpan> corrupt;
    uint64_t torn_tail_bytes = 0;
  };

  static void add_span(LogStats& stats, CorruptSpan span) {
    if (stats.corrupt.size() < kMaxReportedSpans) {
      stats.corrupt.push_back(std::move(span));
    } else {
      stats.corrupt.back().skipped_bytes += span.skipped_bytes;
    }
  }

  enum class Parsed { kFailed, kRecord, kReplay };
  // Reads a record into record_, or a graph replay into replay_fields_ when it goes to replay_.
  Parsed parse(const uint8_t* body, uint64_t size) {
    if (decode_graph_replay(body, size, replay_fields_)) {
      if (replay_ != nullptr && *replay_) return Parsed::kReplay;
      // record_ may hold what libprotobuf put there (fields of a newer writer): start clear.
      if (record_.event_case() != Record::kGraphReplay || parsed_) record_.Clear();
      parsed_ = false;
      replay_fields_.to(*record_.mutable_graph_replay());
      return Parsed::kRecord;
    }
    parsed_ = true;
    return record_.ParseFromArray(body, static_cast<int>(size)) ? Parsed::kRecord : Parsed::kFailed;
  }

  // Visits the records of `run` from `offset` on; offsets in the damage are within `run`.
  Damage read_records(Bytes run, uint64_t offset, LogStats& stats, const RecordVisitor& visit) {
    Damage damage;
    while (offset < run.size) {
      Frame frame;
      const FrameStatus status = read_frame(run.data, run.size, offset, frame);
      const Parsed parsed =
          status == FrameStatus::kOk ? parse(run.data + frame.body_offset, frame.body_size) : Parsed::kFailed;
      if (parsed != Parsed::kFailed) {
        if (parsed == Parsed::kReplay) {
          (*replay_)(replay_fields_);
        } else if (record_.event_case() == Record::EVENT_NOT_SET) {
          ++stats.unknown_records;
        } else {
          visit(record_);
        }
        ++stats.records;
        offset = frame.end();
        if (run.data == data_) passed(offset);
        continue;
      }
      const uint64_t resume = resync(run, offset + 1);
      if (status == FrameStatus::kTruncated && resume == run.size) {
        damage.torn_tail_bytes = run.size - offset;  // the writer was stopped mid-record
        break;
      }
      std::string reason = status == FrameStatus::kOk ? "record does not parse"
                           : status == FrameStatus::kBadLength
                               ? "implausible record length"
                               : "record length runs past the end of the file";
      if (damage.corrupt.size() < kMaxReportedSpans)
        damage.corrupt.push_back({offset, resume - offset, std::move(reason)});
      offset = resume;
    }
    return damage;
  }

  // A compressed log: zstd frames, each holding whole records. A damaged frame loses only its
  // own records; reading resumes at the next frame that decompresses.
  void read_frames(LogStats& stats, const RecordVisitor& visit) {
    uint64_t offset = first_record_;
    while (offset < size_) {
      const FrameDecoder::Result frame = decoder_.decode(data_ + offset, size_ - offset);
      if (frame.status == FrameDecoder::Status::kOk) {
        const std::vector<uint8_t>& records = decoder_.output();
        const Damage damage = read_records({records.data(), records.size()}, 0, stats, visit);
        if (!damage.corrupt.empty() || damage.torn_tail_bytes != 0) {
          const uint64_t at =
              damage.corrupt.empty() ? records.size() - damage.torn_tail_bytes : damage.corrupt[0].offset;
          add_span(stats, {offset, frame.frame_bytes,
                           "records in the zstd frame do not parse (from byte " + std::to_string(at) +
                               " of " + std::to_string(records.size()) + " decompressed)"});
        }
        offset += frame.frame_bytes;
        passed(offset);
        continue;
      }
      const uint64_t resume = next_frame(offset + 1);
      if (frame.status == FrameDecoder::Status::kTruncated && resume == size_) {
        stats.torn_tail_bytes = size_ - offset;  // the writer was stopped mid-frame
        break;
      }
      add_span(stats, {offset, resume - offset, frame.reason});
      offset = resume;
    }
  }

  // The first offset at or after `from` where a zstd frame starts and decompresses; the file
  // size if there is none.
  uint64_t next_frame(uint64_t from) {
    static constexpr uint8_t kMagic[] = {0x28, 0xb5, 0x2f, 0xfd};  // ZSTD_MAGICNUMBER, little-endian
    for (uint64_t candidate = from; candidate + sizeof kMagic <= size_;) {
      // Searched a step at a time, leaving each behind: a long damaged region stays unmapped.
      passed(candidate);
      const uint64_t window = std::min(size_ - candidate, kReleaseStep + sizeof kMagic - 1);
      const void* found = ::memmem(data_ + candidate, window, kMagic, sizeof kMagic);
      if (found == nullptr) {
        candidate += window - (sizeof kMagic - 1);
        continue;
      }
      candidate = static_cast<uint64_t>(static_cast<const uint8_t*>(found) - data_);
      if (decoder_.decode(data_ + candidate, size_ - candidate).status == FrameDecoder::Status::kOk)
        return candidate;
      ++candidate;
    }
    return size_;
  }

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
    if (header.compression() != COMPRESSION_NONE && header.compression() != COMPRESSION_ZSTD) {
      throw ReadError(name_ + ": its records are compressed with a method this reader does not know (" +
                      std::to_string(header.compression()) + "): use a newer profilemate");
    }
    first_record_ = frame.end();
  }

  // The first offset at or after `from` in `run` where a run of good records starts (or that
  // run reaches the end exactly); the end if there is none.
  uint64_t resync(Bytes run, uint64_t from) {
    for (uint64_t candidate = from; candidate < run.size; ++candidate) {
      // A long damaged region (a hole in a sparse file) is left behind as it is searched, and
      // its zeros, never a record's length, are passed over at once.
      if (run.data == data_) passed(candidate);
      if (run.data[candidate] == 0) continue;
      uint64_t offset = candidate;
      int good = 0;
      while (good < kResyncChain) {
        Frame frame;
        if (read_frame(run.data, run.size, offset, frame) != FrameStatus::kOk ||
            !probe_.ParseFromArray(run.data + frame.body_offset, static_cast<int>(frame.body_size)) ||
            probe_.event_case() == Record::EVENT_NOT_SET) {
          break;
        }
        ++good;
        offset = frame.end();
        if (offset == run.size) break;
      }
      if (good == kResyncChain || (good > 0 && offset == run.size)) return candidate;
    }
    return run.size;
  }

  // Tells the owner of the bytes, every kReleaseStep, what reading has left behind: a mapped log
  // then stays resident only around the cursor, however long the session.
  void passed(uint64_t offset) {
    if (release_ && offset - released_ >= kReleaseStep) {
      release_(offset);
      released_ = offset;
    }
  }
  static constexpr uint64_t kReleaseStep = 8u << 20;

  const uint8_t* data_;
  uint64_t size_;
  std::string name_;
  ReleaseBehind release_;
  uint64_t released_ = 0;
  uint64_t first_record_ = 0;
  const ReplayVisitor* replay_;
  GraphReplayFields replay_fields_;
  Record record_;
  bool parsed_ = false;  // record_ was last set by libprotobuf
  Record probe_;
  FrameDecoder decoder_;
};

class MappedFile {
 public:
  MappedFile(FileDescriptor file, const std::string& path) {
    struct stat st {};
    if (::fstat(file.get(), &st) != 0) throw ReadError("cannot read " + path + ": " + std::strerror(errno));
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ == 0) {
      throw ReadError(path +
                      ": empty (0 bytes), no process log: the recorder could not write to it (a full "
                      "disk when the process started?)");
    }
    void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.get(), 0);
    if (data == MAP_FAILED) throw ReadError("cannot read " + path + ": " + std::strerror(errno));
    ::madvise(data, size_, MADV_SEQUENTIAL);
    data_ = static_cast<const uint8_t*>(data);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() { ::munmap(const_cast<uint8_t*>(data_), size_); }
  [[nodiscard]] const uint8_t* data() const { return data_; }
  [[nodiscard]] uint64_t size() const { return size_; }
  // Drops the pages before `offset` from memory (they are read again from the file if touched).
  void release_below(uint64_t offset) const {
    const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t bytes = offset / page * page;
    if (bytes > 0) ::madvise(const_cast<uint8_t*>(data_), bytes, MADV_DONTNEED);
  }

 private:
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace

LogStats read_log_bytes(const uint8_t* data, size_t size, const std::string& name, Header& header,
                        const RecordVisitor& visit, const ReplayVisitor& replay) {
  return LogParser(data, size, name, {}, &replay).run(header, visit);
}

FileDescriptor open_regular_file(int dir_fd, const std::string& name, const std::string& path, int flags,
                                 struct stat& info) {
  FileDescriptor file(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags));
  if (file.get() < 0) {
    if (errno == ELOOP && (flags & O_NOFOLLOW) != 0)
      throw ReadError(path + ": a symbolic link, not a log the recorder wrote (links are not followed)");
    throw ReadError("cannot read " + path + ": " + std::strerror(errno));
  }
  if (::fstat(file.get(), &info) != 0) throw ReadError("cannot read " + path + ": " + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) {
    const char* what = S_ISDIR(info.st_mode)    ? "a directory"
                       : S_ISFIFO(info.st_mode) ? "a FIFO"
                       : S_ISSOCK(info.st_mode) ? "a socket"
                                                : "a device";
    throw ReadError(path + ": " + what + ", not a process log (a regular *.pmlog file)");
  }
  return file;
}

LogStats read_log(const std::string& path, Header& header, const RecordVisitor& visit) {
  struct stat info {};
  return read_log(open_regular_file(AT_FDCWD, path, path, 0, info), path, header, visit);
}

LogStats read_log(FileDescriptor file, const std::string& path, Header& header, const RecordVisitor& visit,
                  const ReplayVisitor& replay) {
  const MappedFile mapped(std::move(file), path);
  return LogParser(
             mapped.data(), mapped.size(), path, [&mapped](uint64_t offset) { mapped.release_below(offset); },
             &replay)
      .run(header, visit);
}

}  // namespace profilemate::reader
