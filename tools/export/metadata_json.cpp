#include "metadata_json.h"

#include <algorithm>
#include <map>

#include "event_labels.h"
#include "json_writer.h"

namespace profilemate::exporter {
namespace {

const char* severity_name(Notice::Severity severity) {
  switch (severity) {
    case Notice::INFO: return "info";
    case Notice::WARNING: return "warning";
    case Notice::DEGRADED: return "degraded";
    case Notice::FAULT: return "fault";
    default: return "unspecified";
  }
}

struct Totals {
  uint64_t records = 0;
  uint64_t unknown_records = 0;
  uint64_t dropped_records = 0;
  uint64_t torn_records = 0;
  uint64_t torn_bytes = 0;
  uint64_t corrupt_spans = 0;
  uint64_t corrupt_bytes = 0;
};

void write_process(JsonWriter& json, const Process& process, Totals& totals) {
  const Header& header = process.header;
  const ProcessInfo& info = process.info;
  json.begin_object()
      .field("pid", header.pid())
      .field("ppid", header.ppid())
      .field("process_role", info.process_role())
      .field("host", header.host())
      .field("command_line", header.command_line())
      .field("log_file", process.file)
      .field("start_unix_ns", header.start_realtime_ns())
      .field("start_monotonic_ns", header.start_monotonic_ns())
      .field("end_unix_ns", process.last_unix_ns)
      .field("writer_version", header.tool_version())
      .field("schema_version", header.schema_version())
      .field("flush_interval_ms", header.flush_interval_ms())
      .field("buffer_budget_bytes", header.buffer_budget_bytes());
  json.key("versions")
      .begin_object()
      .field("cuda_driver", info.cuda_driver_version())
      .field("cupti", info.cupti_version())
      .field("vllm", info.vllm_version())
      .field("python", info.python_version())
      .field("torch", info.torch_version())
      .end_object();
  // The ranks vLLM gave this process; a dimension it did not name is left out.
  json.key("ranks").begin_object();
  if (info.has_dp_rank()) json.field("dp", info.dp_rank());
  if (info.has_tp_rank()) json.field("tp", info.tp_rank());
  if (info.has_pp_rank()) json.field("pp", info.pp_rank());
  if (info.has_ep_rank()) json.field("ep", info.ep_rank());
  json.end_object();
  json.key("threads").begin_array();
  for (const auto& [index, thread] : process.threads) {
    json.begin_object()
        .field("thread", index)
        .field("tid", thread.tid())
        .field("name", thread.name())
        .end_object();
  }
  json.end_array();

  const reader::LogStats& stats = process.stats;
  json.key("log")
      .begin_object()
      .field("bytes", stats.file_bytes)
      .field("records", stats.records)
      .field("unknown_records", stats.unknown_records)
      .field("torn_tail_records", uint64_t{stats.torn_tail_bytes > 0 ? 1u : 0u})
      .field("torn_tail_bytes", stats.torn_tail_bytes);
  json.key("corrupt_spans").begin_array();
  for (const reader::CorruptSpan& span : stats.corrupt) {
    json.begin_object()
        .field("offset", span.offset)
        .field("skipped_bytes", span.skipped_bytes)
        .field("reason", span.reason)
        .end_object();
    totals.corrupt_bytes += span.skipped_bytes;
  }
  json.end_array().end_object();

  std::map<std::string, uint64_t> dropped;
  for (const auto& [key, count] : process.dropped)
    dropped[std::string(dropped_reason_name(key.second))] += count;
  json.key("dropped_records").begin_object();
  uint64_t process_dropped = 0;
  for (const auto& [reason, count] : dropped) {
    json.field(reason, count);
    process_dropped += count;
  }
  json.end_object();
  json.key("graph_exec_events")
      .begin_object()
      .field("destroy", process.graph_exec_events[GraphExecEvent::DESTROY])
      .field("upload", process.graph_exec_events[GraphExecEvent::UPLOAD])
      .field("update", process.graph_exec_events[GraphExecEvent::UPDATE])
      .end_object();
  if (process.gpu_records) {
    const GpuRecordStats& gpu = *process.gpu_records;
    json.key("gpu_records")
        .begin_object()
        .field("replays_with_gpu", gpu.replays_with_gpu())
        .field("replays_without_gpu", gpu.replays_without_gpu())
        .field("late_gpu_times", gpu.late_gpu_times())
        .field("unmatched_gpu_records", gpu.unmatched_gpu_records())
        .field("buffers_declined", gpu.buffers_declined())
        .end_object();
  }
  json.end_object();

  totals.records += stats.records;
  totals.unknown_records += stats.unknown_records;
  totals.dropped_records += process_dropped;
  totals.torn_records += stats.torn_tail_bytes > 0 ? 1 : 0;
  totals.torn_bytes += stats.torn_tail_bytes;
  totals.corrupt_spans += stats.corrupt.size();
}

}  // namespace

std::string metadata_json(const SessionTables& data, const std::vector<OutputFile>& files) {
  JsonWriter json;
  uint64_t end_unix_ns = data.start_unix_ns;
  for (const Process& process : data.processes) end_unix_ns = std::max(end_unix_ns, process.last_unix_ns);

  json.begin_object()
      .field("tool", "profilemate")
      .field("tool_version", PROFILEMATE_VERSION)
      .field("schema_version", static_cast<uint32_t>(SCHEMA_VERSION))
      .field("session_id", data.processes.front().header.session_id())
      .field("start_unix_ns", data.start_unix_ns)
      .field("end_unix_ns", end_unix_ns)
      .key("duration_sec")
      .value(data.seconds(end_unix_ns), 6)
      .field("timestamp_sec_origin", "start_unix_ns: the earliest process start in the session")
      .field("clock", kClockAssumption);

  Totals totals;
  json.key("processes").begin_array();
  for (const Process& process : data.processes) write_process(json, process, totals);
  json.end_array();

  // The processes by host, hosts in the order their first log was read.
  json.key("hosts").begin_array();
  for (const auto& [host, processes] : data.hosts()) {
    json.begin_object().field("host", host).key("pids").begin_array();
    for (const uint32_t process : processes) json.value(data.processes[process].header.pid());
    json.end_array().end_object();
  }
  json.end_array();

  json.key("patches").begin_array();
  for (const Row<PatchStatus>& row : data.patches) {
    json.begin_object()
        .field("host", data.processes[row.process].host())
        .field("pid", data.processes[row.process].header.pid())
        .field("component", row.event.component())
        .field("target", row.event.target())
        .field("applied", row.event.applied())
        .field("reason", row.event.reason())
        .end_object();
  }
  json.end_array();

  json.key("notices").begin_array();
  for (const Row<Notice>& row : data.notices) {
    json.begin_object()
        .field("host", data.processes[row.process].host())
        .field("pid", data.processes[row.process].header.pid())
        .key("timestamp_sec")
        .value(data.seconds(row.unix_ns), 6)
        .field("severity", severity_name(row.event.severity()))
        .field("source", row.event.source())
        .field("message", row.event.message())
        .end_object();
  }
  json.end_array();

  json.key("totals")
      .begin_object()
      .field("records", totals.records)
      .field("unknown_records", totals.unknown_records)
      .field("dropped_records", totals.dropped_records)
      .field("torn_tail_records", totals.torn_records)
      .field("torn_tail_bytes", totals.torn_bytes)
      .field("corrupt_spans", totals.corrupt_spans)
      .field("corrupt_bytes", totals.corrupt_bytes)
      .end_object();

  json.key("files").begin_array();
  for (const OutputFile& file : files) {
    json.begin_object().field("name", file.name).field("rows", file.rows).end_object();
  }
  json.end_array();
  json.end_object();
  return json.text();
}

}  // namespace profilemate::exporter
