#include "session_data.h"

#include <algorithm>
#include <deque>
#include <filesystem>

#include "session_files.h"

namespace profilemate::exporter {
namespace {

using Key = std::pair<uint32_t, uint32_t>;

// For the few rows that stay in memory.
template <typename Event>
void sort_by_time(std::vector<Row<Event>>& rows) {
  std::stable_sort(rows.begin(), rows.end(), [](const Row<Event>& a, const Row<Event>& b) {
    return a.unix_ns != b.unix_ns ? a.unix_ns < b.unix_ns : a.process < b.process;
  });
}

void merge_info(ProcessInfo& into, const ProcessInfo& update) {
  // Later non-empty values win; empty ones say nothing.
  if (!update.process_role().empty()) into.set_process_role(update.process_role());
  if (!update.cuda_driver_version().empty()) into.set_cuda_driver_version(update.cuda_driver_version());
  if (!update.cupti_version().empty()) into.set_cupti_version(update.cupti_version());
  if (!update.vllm_version().empty()) into.set_vllm_version(update.vllm_version());
  if (!update.python_version().empty()) into.set_python_version(update.python_version());
  if (!update.torch_version().empty()) into.set_torch_version(update.torch_version());
}

// Turns one process's records into table entries and sorted rows.
class ProcessCollector {
 public:
  ProcessCollector(SessionStream& stream, uint32_t index)
      : stream_(stream), data_(stream.tables), index_(index) {}

  void operator()(Record& record) {
    Process& process = data_.processes[index_];
    switch (record.event_case()) {
      case Record::kGraphReplay: {
        const GraphReplay& replay = record.graph_replay();
        const ReplayRow row{index_,
                            replay.exec_id(),
                            replay.stream_id(),
                            replay.thread(),
                            process.unix_ns(replay.cpu_enter_ns()),
                            replay.cpu_duration_ns(),
                            replay.gpu_start_offset_ns(),
                            replay.gpu_duration_ns(),
                            replay.has_gpu_duration_ns()};
        if (!row.has_gpu && replay.has_correlation_id()) {
          late_replay(row, replay.correlation_id());
        } else {
          add_replay(row);
        }
        break;
      }
      case Record::kGraphReplayGpuTime: {
        const GraphReplayGpuTime& late = record.graph_replay_gpu_time();
        late_gpu_time(late.correlation_id(), process.unix_ns(late.gpu_start_ns()), late.gpu_duration_ns());
        break;
      }
      case Record::kGpuRecordStats: process.gpu_records = record.gpu_record_stats(); break;
      case Record::kSchedulerStep:
        add(stream_.steps, process, record.scheduler_step().t_ns(), record.mutable_scheduler_step());
        break;
      case Record::kForwardPass:
        add(stream_.forward_passes, process, record.forward_pass().t_ns(), record.mutable_forward_pass());
        break;
      case Record::kKvUsage:
        add(stream_.kv_usage, process, record.kv_usage().t_ns(), record.mutable_kv_usage());
        break;
      case Record::kCpuOperation:
        add(stream_.cpu_operations, process, record.cpu_operation().t_ns(), record.mutable_cpu_operation());
        break;
      case Record::kMoeTiming:
        add(stream_.moe_timing, process, record.moe_timing().t_ns(), record.mutable_moe_timing());
        break;
      case Record::kKvEviction:
        add(stream_.kv_evictions, process, record.kv_eviction().t_ns(), record.mutable_kv_eviction());
        break;
      case Record::kMoeExpertCounts: {
        const MoeExpertCounts& counts = record.moe_expert_counts();
        std::vector<uint64_t>& totals = data_.expert_counts[{index_, counts.layer()}];
        const size_t needed = size_t{counts.first_expert()} + counts.counts_size();
        if (totals.size() < needed) totals.resize(needed);
        for (int i = 0; i < counts.counts_size(); ++i) totals[counts.first_expert() + i] += counts.counts(i);
        seen(process, process.unix_ns(counts.t_ns()));
        break;
      }
      case Record::kGraphCapture:
        keep(data_.captures, process, record.graph_capture().begin_ns(), record.mutable_graph_capture());
        break;
      case Record::kGraphInstantiate: {
        const uint64_t when = process.unix_ns(record.graph_instantiate().t_ns());
        const Key key{index_, record.graph_instantiate().graph_id()};
        // A graph instantiated twice keeps its first executable: that is what replays name.
        data_.instantiations.try_emplace(
            key, Row<GraphInstantiate>{index_, when, std::move(*record.mutable_graph_instantiate())});
        seen(process, when);
        break;
      }
      case Record::kGraphExecEvent: {
        const GraphExecEvent& event = record.graph_exec_event();
        const auto op = static_cast<size_t>(event.op());
        if (op < std::size(process.graph_exec_events)) ++process.graph_exec_events[op];
        seen(process, process.unix_ns(event.t_ns()));
        break;
      }
      case Record::kPreemption:
        add(stream_.preemptions, process, record.preemption().t_ns(), record.mutable_preemption());
        break;
      case Record::kEncoderTiming:
        add(stream_.encoder_timing, process, record.encoder_timing().t_ns(), record.mutable_encoder_timing());
        break;
      case Record::kThreadInfo: process.threads[record.thread_info().thread()] = record.thread_info(); break;
      case Record::kDroppedRecords: {
        const DroppedRecords& dropped = record.dropped_records();
        uint64_t& total = process.dropped[{dropped.thread(), dropped.reason()}];
        total = std::max(total, dropped.dropped());  // cumulative: the largest is the total
        break;
      }
      case Record::kProcessInfo: merge_info(process.info, record.process_info()); break;
      case Record::kPatchStatus:
        keep(data_.patches, process, record.patch_status().t_ns(), record.mutable_patch_status());
        break;
      case Record::kNotice:
        keep(data_.notices, process, record.notice().t_ns(), record.mutable_notice());
        break;
      case Record::kClockSync: seen(process, process.unix_ns(record.clock_sync().t_ns())); break;
      case Record::kDescriptorReplays: {
        const DescriptorReplays& counted = record.descriptor_replays();
        DescriptorUsage& usage = data_.descriptor_replays[{index_, counted.label().SerializeAsString()}];
        usage.descriptor = counted.label();
        usage.replays += counted.replays();
        seen(process, process.unix_ns(counted.t_ns()));
        break;
      }
      case Record::kHeader:  // a second header carries nothing new
      case Record::EVENT_NOT_SET: break;
    }
  }

  // At the end of the log: replays still waiting for a late GPU time go without it.
  void finish() {
    for (const LateReplay& waiting : late_replays_) {
      if (!waiting.joined) add_replay(waiting.row);
    }
    late_replays_.clear();
    late_index_.clear();
    early_gpu_times_.clear();
  }

 private:
  void add_replay(const ReplayRow& row) {
    Process& process = data_.processes[index_];
    ExecGraphUsage& usage = usage_for(row.exec_id);
    // Min, not first: a replay joined to a late GPU time comes after later ones.
    usage.first_unix_ns = usage.replays++ == 0 ? row.unix_ns : std::min(usage.first_unix_ns, row.unix_ns);
    usage.last_unix_ns = std::max(usage.last_unix_ns, row.unix_ns);
    usage.cpu_ns_total += row.cpu_ns;
    if (row.has_gpu) {
      ++usage.gpu_replays;
      usage.gpu_ns_total += row.gpu_ns;
      usage.gpu_ns_max = std::max(usage.gpu_ns_max, row.gpu_ns);
      stream_.gpu_times.push({index_, row.exec_id, row.gpu_ns}, {});
    }
    stream_.replays.push_pod(TimeKey{row.unix_ns, index_}, row);
    seen(process, row.unix_ns);
  }

  static void attach_gpu(ReplayRow& row, uint64_t gpu_start_unix_ns, uint64_t gpu_ns) {
    row.has_gpu = true;
    row.gpu_offset_ns = static_cast<int64_t>(gpu_start_unix_ns - row.unix_ns);
    row.gpu_ns = gpu_ns;
  }

  // A replay written without GPU time whose GPU time may follow (GraphReplayGpuTime): held back,
  // in log order, for as long as the log format's window says one may come.
  void late_replay(ReplayRow row, uint32_t correlation_id) {
    if (const auto early = early_gpu_times_.find(correlation_id); early != early_gpu_times_.end()) {
      attach_gpu(row, early->second.first, early->second.second);
      early_gpu_times_.erase(early);
      add_replay(row);
      return;
    }
    late_index_[correlation_id] = late_front_ + late_replays_.size();
    late_replays_.push_back({row, correlation_id, false});
    if (late_replays_.size() > kLateWindow) pop_late_front();
  }

  void late_gpu_time(uint32_t correlation_id, uint64_t gpu_start_unix_ns, uint64_t gpu_ns) {
    const auto it = late_index_.find(correlation_id);
    if (it == late_index_.end()) {
      // Its replay may come later in the log: another thread wrote it.
      if (early_gpu_times_.size() >= kLateWindow) early_gpu_times_.clear();
      early_gpu_times_[correlation_id] = {gpu_start_unix_ns, gpu_ns};
      return;
    }
    LateReplay& waiting = late_replays_[it->second - late_front_];
    late_index_.erase(it);
    attach_gpu(waiting.row, gpu_start_unix_ns, gpu_ns);
    add_replay(waiting.row);
    waiting.joined = true;
    while (!late_replays_.empty() && late_replays_.front().joined) pop_late_front();
  }

  void pop_late_front() {
    const LateReplay& oldest = late_replays_.front();
    if (!oldest.joined) {
      late_index_.erase(oldest.correlation_id);
      add_replay(oldest.row);
    }
    late_replays_.pop_front();
    ++late_front_;
  }

  static void seen(Process& process, uint64_t unix_ns) {
    process.last_unix_ns = std::max(process.last_unix_ns, unix_ns);
  }

  template <typename Event>
  void keep(std::vector<Row<Event>>& rows, Process& process, uint64_t log_ns, Event* event) {
    const uint64_t when = process.unix_ns(log_ns);
    seen(process, when);
    rows.push_back({index_, when, std::move(*event)});
  }

  template <typename Event>
  void add(SortedSink<TimeKey>& sink, Process& process, uint64_t log_ns, const Event* event) {
    const uint64_t when = process.unix_ns(log_ns);
    seen(process, when);
    event->SerializeToString(&bytes_);
    sink.push({when, index_}, std::as_bytes(std::span(bytes_.data(), bytes_.size())));
  }

  ExecGraphUsage& usage_for(uint32_t exec_id) {
    // Replays of one graph come in long runs: skip the map lookup for a repeat.
    if (last_usage_ == nullptr || last_exec_ != exec_id) {
      last_usage_ = &data_.exec_usage[{index_, exec_id}];
      last_exec_ = exec_id;
    }
    return *last_usage_;
  }

  SessionStream& stream_;
  SessionTables& data_;
  uint32_t index_;
  std::string bytes_;
  ExecGraphUsage* last_usage_ = nullptr;
  uint32_t last_exec_ = 0;

  // The join of late GPU times (see profilemate.proto, LateGpuTime).
  static constexpr size_t kLateWindow = 2 * size_t{LATE_GPU_TIME_WINDOW};
  struct LateReplay {
    ReplayRow row;
    uint32_t correlation_id = 0;
    bool joined = false;
  };
  std::deque<LateReplay> late_replays_;
  uint64_t late_front_ = 0;  // position in the log's sequence of late replays of late_replays_[0]
  std::unordered_map<uint32_t, uint64_t> late_index_;                            // correlation id -> position
  std::unordered_map<uint32_t, std::pair<uint64_t, uint64_t>> early_gpu_times_;  // (start, duration)
};

}  // namespace

uint32_t Process::tid(uint32_t thread) const {
  const auto it = threads.find(thread);
  return it == threads.end() ? 0 : it->second.tid();
}

double SessionTables::seconds(uint64_t unix_ns) const {
  return unix_ns >= start_unix_ns ? static_cast<double>(unix_ns - start_unix_ns) * 1e-9
                                  : -static_cast<double>(start_unix_ns - unix_ns) * 1e-9;
}

std::map<std::pair<uint32_t, uint32_t>, ExecOrigin> exec_origins(const SessionTables& data) {
  std::map<std::pair<uint32_t, uint32_t>, const GraphCapture*> capture_of_graph;
  for (const Row<GraphCapture>& row : data.captures) {
    capture_of_graph.try_emplace({row.process, row.event.graph_id()}, &row.event);
  }
  std::map<std::pair<uint32_t, uint32_t>, ExecOrigin> origins;
  for (const auto& [graph, inst] : data.instantiations) {
    const auto capture = capture_of_graph.find(graph);
    origins[{graph.first, inst.event.exec_id()}] = {
        graph.second, capture == capture_of_graph.end() ? nullptr : capture->second};
  }
  return origins;
}

SessionStream::SessionStream(SortMemory& memory)
    : replays(memory),
      gpu_times(memory),
      steps(memory),
      kv_usage(memory),
      kv_evictions(memory),
      moe_timing(memory),
      forward_passes(memory),
      cpu_operations(memory),
      preemptions(memory),
      encoder_timing(memory) {}

SessionStream::SessionStream(const std::string& dir, SortMemory& memory) : SessionStream(memory) {
  SessionTables& data = tables;
  const std::vector<std::string> files = reader::session_log_files(dir);
  data.processes.reserve(files.size());
  for (const std::string& path : files) {
    const auto index = static_cast<uint32_t>(data.processes.size());
    data.processes.emplace_back();
    Process& process = data.processes.back();
    process.file = std::filesystem::path(path).filename().string();
    ProcessCollector collect(*this, index);
    // The header is filled in before the first record is visited, so times resolve as we go.
    process.stats = reader::read_log(path, process.header, [&](Record& record) { collect(record); });
    collect.finish();
    ProcessInfo info = process.header.info();
    merge_info(info, process.info);
    process.info = std::move(info);
    process.last_unix_ns = std::max(process.last_unix_ns, process.header.start_realtime_ns());
  }
  data.start_unix_ns = data.processes.front().header.start_realtime_ns();
  for (const Process& process : data.processes) {
    data.start_unix_ns = std::min(data.start_unix_ns, process.header.start_realtime_ns());
  }
  sort_by_time(data.captures);
  sort_by_time(data.patches);
  sort_by_time(data.notices);
}

}  // namespace profilemate::exporter
