// Everything the exporters need from a session, gathered from all its process logs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pmlog_reader.h"
#include "profilemate.pb.h"

namespace profilemate::exporter {

struct Process {
  std::string file;  // base name of the log
  Header header;
  ProcessInfo info;  // the header's, updated by later ProcessInfo records
  reader::LogStats stats;
  std::map<uint32_t, ThreadInfo> threads;                // by thread index
  std::map<std::pair<uint32_t, int>, uint64_t> dropped;  // (thread, reason) -> total
  uint64_t last_unix_ns = 0;                             // latest timestamp seen
  uint64_t graph_exec_events[4] = {};                    // by GraphExecEvent::Op

  [[nodiscard]] uint64_t unix_ns(uint64_t log_ns) const { return header.start_realtime_ns() + log_ns; }
  [[nodiscard]] uint32_t tid(uint32_t thread) const;
};

// An event and the process it came from, at an absolute time (ns since the Unix epoch).
template <typename Event>
struct Row {
  uint32_t process = 0;
  uint64_t unix_ns = 0;
  Event event;
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
};

struct ExecGraphUsage {
  uint64_t replays = 0;
  uint64_t cpu_ns_total = 0;
  std::vector<uint64_t> gpu_ns;  // one per replay that has GPU time
  uint64_t first_unix_ns = 0;
  uint64_t last_unix_ns = 0;
};

// Graph replays of one batch descriptor counted by the Python hooks (DescriptorReplays).
struct DescriptorUsage {
  CaptureContext descriptor;
  uint64_t replays = 0;
};

struct SessionData {
  std::vector<Process> processes;
  uint64_t start_unix_ns = 0;  // earliest process start: timestamp_sec counts from here

  std::vector<Row<GraphCapture>> captures;
  std::map<std::pair<uint32_t, uint32_t>, Row<GraphInstantiate>> instantiations;  // (process, graph)
  std::map<std::pair<uint32_t, uint32_t>, ExecGraphUsage> exec_usage;             // (process, exec)
  // (process, serialized descriptor): the replay counts to use where CUPTI recorded none.
  std::map<std::pair<uint32_t, std::string>, DescriptorUsage> descriptor_replays;
  std::vector<ReplayRow> replays;
  std::vector<Row<SchedulerStep>> steps;
  std::vector<Row<KvUsage>> kv_usage;
  std::vector<Row<KvEviction>> kv_evictions;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<uint64_t>> expert_counts;  // (process, layer)
  std::vector<Row<MoeLayerTiming>> moe_timing;
  std::vector<Row<ForwardPass>> forward_passes;
  std::vector<Row<CpuOperation>> cpu_operations;
  std::vector<Row<Preemption>> preemptions;
  std::vector<Row<EncoderTiming>> encoder_timing;
  std::vector<Row<PatchStatus>> patches;
  std::vector<Row<Notice>> notices;

  [[nodiscard]] double seconds(uint64_t unix_ns) const;
};

// The graph an executable came from, and the capture that labelled it (null: no capture seen).
struct ExecOrigin {
  uint32_t graph_id = 0;
  const GraphCapture* capture = nullptr;
};

// (process, exec id) -> origin, for every instantiated executable graph.
std::map<std::pair<uint32_t, uint32_t>, ExecOrigin> exec_origins(const SessionData& data);

// Reads every log of a session directory. Throws reader::ReadError for a directory that is not a
// session or a log that cannot be used; damage inside a log is recorded in its stats instead.
SessionData read_session(const std::string& dir);

}  // namespace profilemate::exporter
