#include "csv_files.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "csv_writer.h"
#include "event_labels.h"
#include "percentile.h"
#include "units.h"

namespace profilemate::exporter {
namespace {

constexpr int kSecondsDecimals = 6;  // timestamps and second durations: microseconds
constexpr int kMillisDecimals = 3;   // millisecond durations: microseconds
constexpr int kPercentDecimals = 2;

// Shared columns, so every file spells them the same way.
class Columns {
 public:
  Columns(CsvWriter& out, const SessionData& data) : out_(out), data_(data) {}

  void timestamp(uint64_t unix_ns) { out_.fixed(data_.seconds(unix_ns), kSecondsDecimals); }
  void process(uint32_t index) {
    const Process& process = data_.processes[index];
    out_.integer(process.header.pid()).text(process.info.process_role());
  }
  // pid, process_role, time_unix_ns, step
  template <typename Event>
  void event_suffix(const Row<Event>& row) {
    process(row.process);
    out_.integer(row.unix_ns);
    optional_count(row.event.step());
  }
  void thread(uint32_t process, uint32_t thread) { optional_count(data_.processes[process].tid(thread)); }
  // Zero means "not known" for steps, thread ids and the like.
  void optional_count(uint64_t value) {
    if (value == 0) {
      out_.empty();
    } else {
      out_.integer(value);
    }
  }
  void optional_ms(bool present, uint64_t ns) {
    if (present) {
      out_.fixed(ms(ns), kMillisDecimals);
    } else {
      out_.empty();
    }
  }

 private:
  CsvWriter& out_;
  const SessionData& data_;
};

std::string_view capture_mode_name(uint32_t mode) {
  switch (mode) {
    case 0: return "global";
    case 1: return "thread_local";
    case 2: return "relaxed";
    default: return "";
  }
}

std::string_view capture_status_name(GraphCapture::Status status) {
  switch (status) {
    case GraphCapture::OK: return "ok";
    case GraphCapture::FAILED: return "failed";
    default: return "";
  }
}

// runtime_mode, num_tokens, num_reqs, uniform, has_lora; empty when the graph had no label.
void descriptor_columns(CsvWriter& out, const CaptureContext* label) {
  if (label == nullptr) {
    for (int i = 0; i < 5; ++i) out.empty();
    return;
  }
  const CaptureContext& context = *label;
  out.text(context.runtime_mode()).integer(context.num_tokens());
  if (context.has_num_reqs()) {
    out.integer(context.num_reqs());
  } else {
    out.text("None");
  }
  out.boolean(context.uniform()).boolean(context.has_lora());
}

using Key = std::pair<uint32_t, uint32_t>;

OutputFile graph_captures(const SessionData& data, const std::string& dir) {
  CsvWriter out(dir + "/cuda_graph_captures.csv",
                {"runtime_mode", "num_tokens", "num_reqs", "uniform", "has_lora", "capture_time_sec", "pid",
                 "process_role", "time_unix_ns", "thread_id", "stream_id", "graph_id", "exec_id",
                 "node_count", "capture_mode", "status", "capture_duration_ms", "instantiate_ms", "wrapper"});
  Columns columns(out, data);
  for (const Row<GraphCapture>& row : data.captures) {
    const GraphCapture& capture = row.event;
    descriptor_columns(out, capture.has_context() ? &capture.context() : nullptr);
    columns.timestamp(row.unix_ns);
    columns.process(row.process);
    out.integer(row.unix_ns);
    columns.thread(row.process, capture.thread());
    out.integer(capture.stream_id()).integer(capture.graph_id());
    const auto inst = data.instantiations.find({row.process, capture.graph_id()});
    if (inst != data.instantiations.end()) {
      out.integer(inst->second.event.exec_id());
    } else {
      out.empty();
    }
    out.integer(capture.node_count())
        .text(capture_mode_name(capture.capture_mode()))
        .text(capture_status_name(capture.status()))
        .fixed(ms(capture.duration_ns()), kMillisDecimals);
    columns.optional_ms(inst != data.instantiations.end(),
                        inst != data.instantiations.end() ? inst->second.event.duration_ns() : 0);
    out.text(capture.has_context() ? capture.context().wrapper() : "");
    out.end_row();
  }
  out.close();
  return {"cuda_graph_captures.csv", out.rows()};
}

OutputFile graph_replays(const SessionData& data, const std::string& dir) {
  const std::map<Key, ExecOrigin> origins = exec_origins(data);
  CsvWriter out(dir + "/cuda_graph_replays.csv",
                {"timestamp_sec", "pid", "process_role", "time_unix_ns", "thread_id", "stream_id", "exec_id",
                 "graph_id", "runtime_mode", "num_tokens", "num_reqs", "cpu_launch_us", "gpu_start_unix_ns",
                 "gpu_duration_us", "launch_to_gpu_start_us"});
  Columns columns(out, data);
  const ExecOrigin unknown;
  Key last_exec{UINT32_MAX, UINT32_MAX};
  const ExecOrigin* origin = &unknown;
  for (const ReplayRow& replay : data.replays) {
    if (last_exec != Key{replay.process, replay.exec_id}) {  // replays of one graph come in runs
      last_exec = {replay.process, replay.exec_id};
      const auto it = origins.find(last_exec);
      origin = it == origins.end() ? &unknown : &it->second;
    }
    columns.timestamp(replay.unix_ns);
    columns.process(replay.process);
    out.integer(replay.unix_ns);
    columns.thread(replay.process, replay.thread);
    out.integer(replay.stream_id).integer(replay.exec_id);
    columns.optional_count(origin->graph_id);
    if (origin->capture != nullptr && origin->capture->has_context()) {
      const CaptureContext& context = origin->capture->context();
      out.text(context.runtime_mode()).integer(context.num_tokens());
      if (context.has_num_reqs()) {
        out.integer(context.num_reqs());
      } else {
        out.text("None");
      }
    } else {
      out.empty().empty().empty();
    }
    out.fixed(us(replay.cpu_ns), kMillisDecimals);
    if (replay.has_gpu) {
      out.integer(static_cast<uint64_t>(static_cast<int64_t>(replay.unix_ns) + replay.gpu_offset_ns))
          .fixed(us(replay.gpu_ns), kMillisDecimals)
          .fixed(static_cast<double>(replay.gpu_offset_ns) * 1e-3, kMillisDecimals);
    } else {
      out.empty().empty().empty();
    }
    out.end_row();
  }
  out.close();
  return {"cuda_graph_replays.csv", out.rows()};
}

OutputFile graph_usage(const SessionData& data, const std::string& dir) {
  // One line per executable graph CUPTI saw (instantiated, replayed, or both), and one per batch
  // descriptor the Python hooks counted in a process where CUPTI recorded no replay.
  struct Line {
    Key exec;
    const ExecOrigin* origin = nullptr;
    const ExecGraphUsage* usage = nullptr;
    const DescriptorUsage* counted = nullptr;
    [[nodiscard]] uint64_t replays() const {
      return usage != nullptr ? usage->replays : counted != nullptr ? counted->replays : 0;
    }
  };
  const std::map<Key, ExecOrigin> origins = exec_origins(data);
  std::map<Key, Line> graphs;
  std::set<uint32_t> cupti_processes;
  for (const auto& [exec, origin] : origins) graphs[exec] = {exec, &origin};
  for (const auto& [exec, usage] : data.exec_usage) {
    Line& line = graphs[exec];
    line.exec = exec;
    line.usage = &usage;
    cupti_processes.insert(exec.first);
  }
  std::vector<Line> ordered;
  ordered.reserve(graphs.size() + data.descriptor_replays.size());
  for (const auto& [key, line] : graphs) ordered.push_back(line);
  for (const auto& [key, counted] : data.descriptor_replays) {
    if (!cupti_processes.contains(key.first)) ordered.push_back({{key.first, 0}, nullptr, nullptr, &counted});
  }
  // Most replayed first, as the predecessor sorted it.
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const Line& a, const Line& b) { return a.replays() > b.replays(); });

  CsvWriter out(dir + "/cuda_graph_usage.csv", {"runtime_mode",
                                                "num_tokens",
                                                "num_reqs",
                                                "uniform",
                                                "has_lora",
                                                "replay_count",
                                                "pid",
                                                "process_role",
                                                "exec_id",
                                                "graph_id",
                                                "gpu_replays",
                                                "gpu_time_total_ms",
                                                "gpu_time_mean_us",
                                                "gpu_time_p50_us",
                                                "gpu_time_p99_us",
                                                "gpu_time_max_us",
                                                "cpu_launch_mean_us",
                                                "first_replay_sec",
                                                "last_replay_sec",
                                                "replay_source"});
  Columns columns(out, data);
  for (const Line& line : ordered) {
    if (line.counted != nullptr) {
      descriptor_columns(out, &line.counted->descriptor);
      out.integer(line.counted->replays);
      columns.process(line.exec.first);
      for (int i = 0; i < 2; ++i) out.empty();
      out.integer(0);
      for (int i = 0; i < 8; ++i) out.empty();
      out.text("python");
      out.end_row();
      continue;
    }
    const GraphCapture* capture = line.origin != nullptr ? line.origin->capture : nullptr;
    descriptor_columns(out, capture != nullptr && capture->has_context() ? &capture->context() : nullptr);
    const uint64_t replays = line.replays();
    out.integer(replays);
    columns.process(line.exec.first);
    out.integer(line.exec.second);
    columns.optional_count(line.origin != nullptr ? line.origin->graph_id : 0);
    std::vector<uint64_t> gpu = line.usage ? line.usage->gpu_ns : std::vector<uint64_t>{};
    out.integer(gpu.size());
    if (gpu.empty()) {
      for (int i = 0; i < 5; ++i) out.empty();
    } else {
      uint64_t total = 0;
      uint64_t max = 0;
      for (const uint64_t ns : gpu) {
        total += ns;
        max = std::max(max, ns);
      }
      out.fixed(ms(total), kMillisDecimals)
          .fixed(us(total) / static_cast<double>(gpu.size()), kMillisDecimals)
          .fixed(us(nearest_rank(gpu, 0.50)), kMillisDecimals)
          .fixed(us(nearest_rank(gpu, 0.99)), kMillisDecimals)
          .fixed(us(max), kMillisDecimals);
    }
    if (replays == 0) {
      out.empty().empty().empty();
    } else {
      out.fixed(us(line.usage->cpu_ns_total) / static_cast<double>(replays), kMillisDecimals);
      columns.timestamp(line.usage->first_unix_ns);
      columns.timestamp(line.usage->last_unix_ns);
    }
    out.text("cupti");
    out.end_row();
  }
  out.close();
  return {"cuda_graph_usage.csv", out.rows()};
}

OutputFile kv_usage(const SessionData& data, const std::string& dir) {
  CsvWriter out(dir + "/kv_cache_usage.csv", {"timestamp_sec", "usage_pct", "num_blocks", "total_blocks",
                                              "pid", "process_role", "time_unix_ns", "step"});
  Columns columns(out, data);
  for (const Row<KvUsage>& row : data.kv_usage) {
    columns.timestamp(row.unix_ns);
    out.fixed(percent(row.event.used_blocks(), row.event.total_blocks()), kPercentDecimals)
        .integer(row.event.used_blocks())
        .integer(row.event.total_blocks());
    columns.event_suffix(row);
    out.end_row();
  }
  out.close();
  return {"kv_cache_usage.csv", out.rows()};
}

OutputFile kv_evictions(const SessionData& data, const std::string& dir) {
  CsvWriter out(dir + "/kv_cache_evictions.csv", {"timestamp_sec", "lifetime_sec", "idle_sec", "pid",
                                                  "process_role", "time_unix_ns", "step", "block_id"});
  Columns columns(out, data);
  for (const Row<KvEviction>& row : data.kv_evictions) {
    columns.timestamp(row.unix_ns);
    out.fixed(sec(row.event.lifetime_ns()), kSecondsDecimals)
        .fixed(sec(row.event.idle_ns()), kSecondsDecimals);
    columns.event_suffix(row);
    out.integer(row.event.block_id());
    out.end_row();
  }
  out.close();
  return {"kv_cache_evictions.csv", out.rows()};
}

OutputFile moe_selection(const SessionData& data, const std::string& dir) {
  CsvWriter out(dir + "/moe_expert_selection.csv",
                {"layer_idx", "expert_id", "activation_count", "percentage", "pid", "process_role"});
  Columns columns(out, data);
  for (const auto& [key, counts] : data.expert_counts) {
    uint64_t total = 0;
    for (const uint64_t count : counts) total += count;
    for (size_t expert = 0; expert < counts.size(); ++expert) {
      out.integer(key.second).integer(expert).integer(counts[expert]);
      out.fixed(percent(static_cast<double>(counts[expert]), static_cast<double>(total)), kPercentDecimals);
      columns.process(key.first);
      out.end_row();
    }
  }
  out.close();
  return {"moe_expert_selection.csv", out.rows()};
}

OutputFile moe_timing(const SessionData& data, const std::string& dir) {
  CsvWriter out(dir + "/moe_expert_timing.csv",
                {"timestamp_sec", "layer_idx", "num_tokens", "duration_ms", "pid", "process_role",
                 "time_unix_ns", "step", "thread_id", "gpu_duration_ms"});
  Columns columns(out, data);
  for (const Row<MoeLayerTiming>& row : data.moe_timing) {
    const MoeLayerTiming& timing = row.event;
    columns.timestamp(row.unix_ns);
    out.integer(timing.layer()).integer(timing.num_tokens()).fixed(ms(timing.duration_ns()), kMillisDecimals);
    columns.event_suffix(row);
    columns.thread(row.process, timing.thread());
    columns.optional_ms(timing.has_gpu_duration_ns(), timing.gpu_duration_ns());
    out.end_row();
  }
  out.close();
  return {"moe_expert_timing.csv", out.rows()};
}

OutputFile forward_passes(const SessionData& data, const std::string& dir) {
  CsvWriter out(
      dir + "/forward_pass_timing.csv",
      {"timestamp_sec", "phase", "batch_size", "num_tokens", "forward_time_ms", "throughput_tokens_per_sec",
       "pid", "process_role", "time_unix_ns", "step", "thread_id", "gpu_time_ms"});
  Columns columns(out, data);
  for (const Row<ForwardPass>& row : data.forward_passes) {
    const ForwardPass& pass = row.event;
    columns.timestamp(row.unix_ns);
    const double seconds = sec(pass.duration_ns());
    out.text(phase_name(pass.phase()))
        .integer(pass.batch_size())
        .integer(pass.num_tokens())
        .fixed(ms(pass.duration_ns()), kMillisDecimals)
        .fixed(seconds > 0 ? pass.num_tokens() / seconds : 0.0, 1);
    columns.event_suffix(row);
    columns.thread(row.process, pass.thread());
    columns.optional_ms(pass.has_gpu_duration_ns(), pass.gpu_duration_ns());
    out.end_row();
  }
  out.close();
  return {"forward_pass_timing.csv", out.rows()};
}

// cpu_operations_timing.csv and encoder_decoder_timing.csv share one shape; events timed on the
// GPU too (the encoder's) add gpu_time_ms.
template <typename Event>
OutputFile named_durations(const SessionData& data, const std::string& dir, const char* file,
                           const char* name_column, const std::vector<Row<Event>>& rows,
                           std::string_view (*name)(const Event&)) {
  constexpr bool kGpuTimed = requires(const Event& event) {
    event.gpu_duration_ns();
  };
  std::vector<std::string_view> header{"timestamp_sec", name_column,    "duration_ms", "context",  "pid",
                                       "process_role",  "time_unix_ns", "step",        "thread_id"};
  if constexpr (kGpuTimed) header.emplace_back("gpu_time_ms");
  CsvWriter out(dir + "/" + file, header);
  Columns columns(out, data);
  for (const Row<Event>& row : rows) {
    columns.timestamp(row.unix_ns);
    out.text(name(row.event)).fixed(ms(row.event.duration_ns()), kMillisDecimals).text(row.event.context());
    columns.event_suffix(row);
    columns.thread(row.process, row.event.thread());
    if constexpr (kGpuTimed)
      columns.optional_ms(row.event.has_gpu_duration_ns(), row.event.gpu_duration_ns());
    out.end_row();
  }
  out.close();
  return {file, out.rows()};
}

OutputFile batch_utilization(const SessionData& data, const std::string& dir) {
  CsvWriter out(dir + "/batch_utilization.csv", {"timestamp_sec",
                                                 "num_seqs",
                                                 "max_num_seqs",
                                                 "seq_utilization_pct",
                                                 "num_tokens",
                                                 "max_tokens",
                                                 "token_utilization_pct",
                                                 "phase",
                                                 "running_queue_len",
                                                 "waiting_queue_len",
                                                 "pid",
                                                 "process_role",
                                                 "time_unix_ns",
                                                 "step",
                                                 "num_prefill_seqs",
                                                 "num_decode_seqs",
                                                 "num_prefill_tokens",
                                                 "num_decode_tokens",
                                                 "kv_usage_pct",
                                                 "schedule_time_ms"});
  Columns columns(out, data);
  for (const Row<SchedulerStep>& row : data.steps) {
    const SchedulerStep& step = row.event;
    columns.timestamp(row.unix_ns);
    out.integer(step.num_seqs())
        .integer(step.max_num_seqs())
        .fixed(percent(step.num_seqs(), step.max_num_seqs()), kPercentDecimals)
        .integer(step.num_tokens())
        .integer(step.max_tokens())
        .fixed(percent(step.num_tokens(), step.max_tokens()), kPercentDecimals)
        .text(phase_name(step_phase(step)))
        .integer(step.running_queue_len())
        .integer(step.waiting_queue_len());
    columns.event_suffix(row);
    out.integer(step.num_prefill_seqs())
        .integer(step.num_decode_seqs())
        .integer(step.num_prefill_tokens())
        .integer(step.num_decode_tokens());
    if (step.has_kv_usage_pct()) {
      out.fixed(step.kv_usage_pct(), kPercentDecimals);
    } else {
      out.empty();
    }
    out.fixed(ms(step.schedule_duration_ns()), kMillisDecimals);
    out.end_row();
  }
  out.close();
  return {"batch_utilization.csv", out.rows()};
}

OutputFile preemptions(const SessionData& data, const std::string& dir) {
  CsvWriter out(dir + "/preemption_events.csv",
                {"timestamp_sec", "request_id", "event", "reason", "running_time_sec", "extra_info", "pid",
                 "process_role", "time_unix_ns", "step", "computed_tokens_lost", "blocks_freed",
                 "kv_usage_before_pct", "tokens_found_in_cache", "tokens_recomputed"});
  Columns columns(out, data);
  for (const Row<Preemption>& row : data.preemptions) {
    const Preemption& event = row.event;
    columns.timestamp(row.unix_ns);
    out.text(event.request_id())
        .text(event.event())
        .text(event.reason())
        .fixed(sec(event.running_ns()), kSecondsDecimals)
        .text(event.extra_info());
    columns.event_suffix(row);
    out.integer(event.computed_tokens_lost()).integer(event.blocks_freed());
    if (event.has_kv_usage_before_pct()) {
      out.fixed(event.kv_usage_before_pct(), kPercentDecimals);
    } else {
      out.empty();
    }
    if (event.has_tokens_found_in_cache()) {
      const uint32_t found = std::min(event.tokens_found_in_cache(), event.computed_tokens_lost());
      out.integer(found).integer(event.computed_tokens_lost() - found);
    } else {
      out.empty().empty();
    }
    out.end_row();
  }
  out.close();
  return {"preemption_events.csv", out.rows()};
}

}  // namespace

std::vector<OutputFile> write_csv_files(const SessionData& data, const std::string& out_dir) {
  return {
      graph_captures(data, out_dir),
      graph_usage(data, out_dir),
      graph_replays(data, out_dir),
      kv_usage(data, out_dir),
      kv_evictions(data, out_dir),
      moe_selection(data, out_dir),
      moe_timing(data, out_dir),
      forward_passes(data, out_dir),
      named_durations<CpuOperation>(data, out_dir, "cpu_operations_timing.csv", "operation",
                                    data.cpu_operations,
                                    [](const CpuOperation& op) { return std::string_view(op.operation()); }),
      batch_utilization(data, out_dir),
      preemptions(data, out_dir),
      named_durations<EncoderTiming>(data, out_dir, "encoder_decoder_timing.csv", "component",
                                     data.encoder_timing,
                                     [](const EncoderTiming& e) { return std::string_view(e.component()); }),
  };
}

}  // namespace profilemate::exporter
