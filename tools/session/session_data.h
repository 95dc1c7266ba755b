// The session model export, stats and the Perfetto writer share, gathered from all the process
// logs of a session. SessionStream reads a session in one pass with bounded memory: the small
// tables (processes, threads, captures, instantiations, per-graph aggregates) in memory, the
// time-ordered rows in sorted sinks that spill to disk.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gpu_times.h"
#include "pmlog_reader.h"
#include "profilemate.pb.h"
#include "sorted_sink.h"

namespace profilemate::exporter {

struct Process {
  std::string file;  // base name of the log; with several session directories, its path
  Header header;
  ProcessInfo info;  // the header's, updated by later ProcessInfo records
  reader::LogStats stats;
  std::map<uint32_t, ThreadInfo> threads;                // by thread index
  std::map<std::pair<uint32_t, int>, uint64_t> dropped;  // (thread, reason) -> total
  uint64_t last_unix_ns = 0;                             // latest timestamp seen
  uint64_t graph_exec_events[4] = {};                    // by GraphExecEvent::Op
  // The latest GpuRecordStats (cumulative, by t_ns), when the process wrote any.
  std::optional<GpuRecordStats> gpu_records;

  [[nodiscard]] uint64_t unix_ns(uint64_t log_ns) const { return header.start_realtime_ns() + log_ns; }
  [[nodiscard]] uint32_t tid(uint32_t thread) const;
  // The host name, in every row of the process.
  [[nodiscard]] const std::string& host() const { return header.host(); }
};

// An event and the process it came from, at an absolute time (ns since the Unix epoch).
template <typename Event>
struct Row {
  uint32_t process = 0;
  uint64_t unix_ns = 0;
  Event event;
};

// Where a time-ordered row sorts: by time, then by process (then in file order).
struct TimeKey {
  uint64_t unix_ns = 0;
  uint32_t process = 0;
  bool operator<(const TimeKey& other) const {
    return unix_ns != other.unix_ns ? unix_ns < other.unix_ns : process < other.process;
  }
};

// One graph launch, compact: a long run has millions.
struct ReplayRow {
  uint32_t process = 0;
  uint32_t exec_id = 0;
  uint32_t stream_id = 0;
  uint32_t thread = 0;
  uint64_t unix_ns = 0;  // CPU enter
  uint64_t cpu_ns = 0;
  int64_t gpu_offset_ns = 0;
  uint64_t gpu_ns = 0;
  bool has_gpu = false;
  [[nodiscard]] TimeKey key() const { return {unix_ns, process}; }

  // Spilled runs of launches, in varints: a sixth of the size in memory (RowSink's EncodedRow).
  static constexpr size_t kMaxEncodedBytes = 64;
  static size_t encode(std::span<const ReplayRow> rows, std::byte* out);
  static void decode(std::span<const std::byte> bytes, std::span<ReplayRow> rows);
};

// Values by (process, exec id), for lookups once per graph launch. CUPTI numbers a process's
// executable graphs from 1, so ids are small and dense: a vector per process holds them, and a
// hash map the rare large id.
template <typename Value>
class ExecTable {
 public:
  // The value of (process, exec id), default-made the first time.
  Value& operator()(uint32_t process, uint32_t exec_id) {
    if (exec_id < kDenseIds) {
      if (process >= dense_.size()) dense_.resize(size_t{process} + 1);
      std::vector<Value>& values = dense_[process];
      if (exec_id >= values.size()) values.resize(std::max<size_t>(exec_id + 1, 2 * values.size()));
      return values[exec_id];
    }
    return sparse_[uint64_t{process} << 32 | exec_id];
  }
  // The value of (process, exec id), or null when there is none. Safe on several threads at once.
  [[nodiscard]] const Value* find(uint32_t process, uint32_t exec_id) const {
    if (exec_id < kDenseIds) {
      return process < dense_.size() && exec_id < dense_[process].size() ? &dense_[process][exec_id]
                                                                         : nullptr;
    }
    const auto it = sparse_.find(uint64_t{process} << 32 | exec_id);
    return it == sparse_.end() ? nullptr : &it->second;
  }

 private:
  static constexpr uint32_t kDenseIds = 1 << 16;
  std::vector<std::vector<Value>> dense_;
  std::unordered_map<uint64_t, Value> sparse_;
};

// Per executable graph; its GPU-time percentiles come from SessionStream::gpu_times.
struct ExecGraphUsage {
  uint64_t replays = 0;
  uint64_t cpu_ns_total = 0;
  uint64_t gpu_replays = 0;  // replays that have GPU time
  uint64_t gpu_ns_total = 0;
  uint64_t gpu_ns_max = 0;
  uint64_t first_unix_ns = 0;
  uint64_t last_unix_ns = 0;
};

// Graph replays of one batch descriptor counted by the Python hooks (DescriptorReplays).
struct DescriptorUsage {
  CaptureContext descriptor;
  uint64_t replays = 0;
};

// What one run is read from: a session directory, several (one per host, same session id), or a
// directory holding them. One directory converts implicitly: most callers read one.
struct RunSource {
  std::vector<std::string> dirs;
  bool force = false;  // read directories of different session ids together all the same

  RunSource(std::string dir) : dirs{std::move(dir)} {}  // NOLINT(google-explicit-constructor)
  RunSource(std::vector<std::string> given, bool force_different_sessions)
      : dirs(std::move(given)), force(force_different_sessions) {}

  // The session directories: each given one that holds logs, else the subdirectories of it that
  // do (sorted), else the given one (whose reading then says what is wrong with it).
  [[nodiscard]] std::vector<std::string> session_dirs() const;
  // "a", or "a, b (2 session directories)" for messages.
  [[nodiscard]] std::string describe() const;
};

// The clock every reader assumes: each host stamps CLOCK_REALTIME, and hosts agree on it.
inline constexpr const char* kClockAssumption =
    "CLOCK_REALTIME of each host, assumed synchronised across hosts (NTP/PTP)";

// What stays in memory however long the session: per process, per graph, per layer.
struct SessionTables {
  std::vector<Process> processes;
  uint64_t start_unix_ns = 0;  // earliest process start: timestamp_sec counts from here

  std::vector<Row<GraphCapture>> captures;  // one per graph captured: sorted by time
  std::map<std::pair<uint32_t, uint32_t>, Row<GraphInstantiate>> instantiations;  // (process, graph)
  std::map<std::pair<uint32_t, uint32_t>, ExecGraphUsage> exec_usage;             // (process, exec)
  // (process, serialized descriptor): the replay counts to use where CUPTI recorded none.
  std::map<std::pair<uint32_t, std::string>, DescriptorUsage> descriptor_replays;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint64_t>> expert_counts;  // (process, layer)
  std::vector<Row<PatchStatus>> patches;  // a few per process: sorted by time
  std::vector<Row<Notice>> notices;       // a few per process: sorted by time
  // One line each for what was wrong with the session as a whole: logs skipped (naming the file
  // and why), duplicate logs.
  std::vector<std::string> warnings;

  [[nodiscard]] double seconds(uint64_t unix_ns) const;

  // The hosts in the order of their first process, each with the indices of its processes.
  struct HostProcesses {
    std::string host;
    std::vector<uint32_t> processes;
  };
  [[nodiscard]] std::vector<HostProcesses> hosts() const;
};

// A session read in one pass: the tables, and the time-ordered rows waiting in sinks. Each sink
// can be drained once.
class SessionStream {
 public:
  // Reads every log of the run's session directories. A log that cannot be used (a link, another
  // user's, not a log) is skipped and named in tables.warnings; damage inside a log is recorded
  // in its stats. Throws reader::ReadError for a directory that is not a session or holds no
  // usable log, and for directories of different session ids unless the source forces them.
  SessionStream(const RunSource& source, SortMemory& memory);
  // An empty session whose tables and sinks the caller fills (tests build sessions this way).
  explicit SessionStream(SortMemory& memory);

  SessionTables tables;
  RowSink<ReplayRow> replays;
  GpuTimes gpu_times;
  // The rest carry their event, serialized.
  SortedSink<TimeKey> steps, kv_usage, kv_evictions, moe_timing, forward_passes, cpu_operations, preemptions,
      encoder_timing;

  // Calls visit(const ReplayRow&) in time order.
  template <typename Visit>
  static void drain_replays(RowSink<ReplayRow>& sink, Visit&& visit) {
    sink.drain([&](std::span<const ReplayRow> rows) {
      for (const ReplayRow& row : rows) visit(row);
    });
  }
  // Calls visit(const Row<Event>&) in time order.
  template <typename Event, typename Visit>
  static void drain_events(SortedSink<TimeKey>& sink, Visit&& visit) {
    Row<Event> row;
    sink.drain([&](const TimeKey& key, std::span<const std::byte> payload) {
      row.process = key.process;
      row.unix_ns = key.unix_ns;
      if (!row.event.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
        throw std::runtime_error("a sorted row no longer parses: the sort's temporary file is damaged");
      visit(std::as_const(row));
    });
  }
};

// The graph an executable came from, and the capture that labelled it (null: no capture seen).
struct ExecOrigin {
  uint32_t graph_id = 0;
  const GraphCapture* capture = nullptr;
};

// (process, exec id) -> origin, for every instantiated executable graph.
std::map<std::pair<uint32_t, uint32_t>, ExecOrigin> exec_origins(const SessionTables& data);

}  // namespace profilemate::exporter
