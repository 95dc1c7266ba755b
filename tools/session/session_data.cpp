#include "session_data.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <tuple>

#include "helper_thread.h"
#include "session_files.h"
#include "varint.h"

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
  if (update.has_dp_rank()) into.set_dp_rank(update.dp_rank());
  if (update.has_tp_rank()) into.set_tp_rank(update.tp_rank());
  if (update.has_pp_rank()) into.set_pp_rank(update.pp_rank());
  if (update.has_ep_rank()) into.set_ep_rank(update.ep_rank());
}

// The rows of a stretch of a log, on their way from the reading thread to the sinks.
struct Batch {
  struct Event {
    SortedSink<TimeKey>* sink = nullptr;
    TimeKey key;
    size_t offset = 0;  // in bytes
    size_t size = 0;
  };
  std::vector<ReplayRow> replays;
  std::vector<Event> events;
  std::string bytes;  // the events, serialized

  [[nodiscard]] bool full() const { return replays.size() >= 32768 || bytes.size() >= (size_t{4} << 20); }
  void clear() {
    replays.clear();
    events.clear();
    bytes.clear();
  }
};

// Puts batches into the sinks and the per-graph tables. It runs on a helper thread while the
// next batch is read: the sinks, the memory bound they share and the per-graph tables are only
// touched here.
class SinkFeeder {
 public:
  explicit SinkFeeder(SessionStream& stream) : stream_(stream) {}

  void operator()(const Batch& batch) {
    for (const ReplayRow& row : batch.replays) {
      const Exec& exec = exec_for(row.process, row.exec_id);
      ExecGraphUsage& usage = *exec.usage;
      // Min, not first: a replay joined to a late GPU time comes after later ones.
      usage.first_unix_ns = usage.replays++ == 0 ? row.unix_ns : std::min(usage.first_unix_ns, row.unix_ns);
      usage.last_unix_ns = std::max(usage.last_unix_ns, row.unix_ns);
      usage.cpu_ns_total += row.cpu_ns;
      if (row.has_gpu) {
        ++usage.gpu_replays;
        usage.gpu_ns_total += row.gpu_ns;
        usage.gpu_ns_max = std::max(usage.gpu_ns_max, row.gpu_ns);
        stream_.gpu_times.push(exec.gpu_times, row.gpu_ns);
      }
      stream_.replays.push(row);
    }
    for (const Batch::Event& event : batch.events) {
      event.sink->push(event.key, std::as_bytes(std::span(batch.bytes).subspan(event.offset, event.size)));
    }
  }

 private:
  // Where a replay of an executable graph is counted.
  struct Exec {
    ExecGraphUsage* usage = nullptr;
    size_t gpu_times = 0;  // GpuTimes' handle
  };
  const Exec& exec_for(uint32_t process, uint32_t exec_id) {
    Exec& exec = execs_(process, exec_id);
    if (exec.usage == nullptr) {
      exec = {&stream_.tables.exec_usage[{process, exec_id}], stream_.gpu_times.graph(process, exec_id)};
    }
    return exec;
  }

  SessionStream& stream_;
  ExecTable<Exec> execs_;  // a replay looks its graph up once
};

// Reading and collecting overlap: the reading thread fills a batch while the helper thread feeds
// the earlier ones to the sinks. A few batches queue between them, so that neither waits for the
// other when one batch costs more than the rest (the one whose rows fill the sort memory and
// spill a run, say).
class Handoff {
 public:
  explicit Handoff(SessionStream& stream) : feeder_(stream) {}

  Batch& batch() { return batches_[filling_]; }
  // After each addition to batch().
  void added() {
    if (batch().full()) hand_over();
  }
  // Feeds what is left and waits for it; rethrows what the feeding threw.
  void finish() {
    hand_over();
    helper_.wait();
  }

 private:
  static constexpr size_t kBatches = 4;

  void hand_over() {
    Batch& full = batches_[filling_];
    helper_.post([this, &full] { feeder_(full); });
    filling_ = (filling_ + 1) % kBatches;
    helper_.wait(kBatches - 1);  // the batch to fill next has been fed, whatever else is queued
    batches_[filling_].clear();
  }

  SinkFeeder feeder_;
  std::array<Batch, kBatches> batches_;
  size_t filling_ = 0;
  HelperThread helper_;  // last: stops (feeding what is queued) before the batches go
};

// Turns one process's records into table entries and rows for the sinks.
class ProcessCollector {
 public:
  ProcessCollector(SessionStream& stream, Handoff& handoff, uint32_t index)
      : stream_(stream), data_(stream.tables), handoff_(handoff), index_(index) {}

  void operator()(Record& record) {
    Process& process = data_.processes[index_];
    switch (record.event_case()) {
      case Record::kGraphReplay: replay(reader::GraphReplayFields::of(record.graph_replay())); break;
      case Record::kGraphReplayGpuTime: {
        const GraphReplayGpuTime& late = record.graph_replay_gpu_time();
        late_gpu_time(late.correlation_id(), process.unix_ns(late.gpu_start_ns()), late.gpu_duration_ns());
        break;
      }
      case Record::kGpuRecordStats:
        // Threads' records reach the log in drain order: the latest snapshot is the one to keep.
        if (!process.gpu_records || record.gpu_record_stats().t_ns() >= process.gpu_records->t_ns())
          process.gpu_records = record.gpu_record_stats();
        break;
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

  // A graph replay (most records: read without a Record, see graph_replay_wire.h).
  void replay(const reader::GraphReplayFields& replay) {
    const Process& process = data_.processes[index_];
    const ReplayRow row{index_,
                        replay.exec_id,
                        replay.stream_id,
                        replay.thread,
                        process.unix_ns(replay.cpu_enter_ns),
                        replay.cpu_duration_ns,
                        replay.gpu_start_offset_ns,
                        replay.gpu_duration_ns,
                        replay.has_gpu_duration_ns};
    if (!row.has_gpu && replay.has_correlation_id) {
      late_replay(row, replay.correlation_id);
    } else {
      add_replay(row);
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
  // The replay goes to the sinks and per-graph tables with the next batch (SinkFeeder).
  void add_replay(const ReplayRow& row) {
    handoff_.batch().replays.push_back(row);
    handoff_.added();
    seen(data_.processes[index_], row.unix_ns);
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
    Batch& batch = handoff_.batch();
    const size_t offset = batch.bytes.size();
    event->AppendToString(&batch.bytes);
    batch.events.push_back({&sink, {when, index_}, offset, batch.bytes.size() - offset});
    handoff_.added();
  }

  SessionStream& stream_;
  SessionTables& data_;
  Handoff& handoff_;
  uint32_t index_;
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

using reader::put_varint;

// Logs of the same process (host, pid and start time) are copies: their events would count once per
// copy, so each such group is named.
void warn_about_copies(SessionTables& data) {
  std::map<std::tuple<std::string, uint32_t, uint64_t>, std::vector<const Process*>> by_process;
  for (const Process& process : data.processes)
    by_process[{process.host(), process.header.pid(), process.header.start_realtime_ns()}].push_back(
        &process);
  for (const auto& [key, copies] : by_process) {
    if (copies.size() < 2) continue;
    data.warnings.push_back(copies[0]->file + " and " + std::to_string(copies.size() - 1) +
                            " other log(s) (" + copies[1]->file + (copies.size() > 2 ? ", ..." : "") +
                            ") are the same process (pid " + std::to_string(std::get<1>(key)) +
                            ", started at " + std::to_string(std::get<2>(key)) +
                            " ns): copies of one log? Their events are counted once per copy");
  }
}

// Readers put every host's CLOCK_REALTIME on one time line (kClockAssumption). What the logs show
// against it: on one host, every process's realtime-minus-monotonic offset is the same unless the
// realtime clock was stepped; across hosts, a run's hosts record at the same time, so hosts whose
// records do not overlap at all have clocks that disagree (or are not one run).
void warn_about_clocks(SessionTables& data) {
  constexpr int64_t kTolerance = 1'000'000'000;  // 1 s: far above what NTP or PTP leave
  struct Span {
    int64_t min_offset = INT64_MAX, max_offset = INT64_MIN;
    uint64_t first = UINT64_MAX, last = 0;
  };
  std::map<std::string, Span> hosts;
  for (const Process& process : data.processes) {
    Span& span = hosts[process.host()];
    const int64_t offset = static_cast<int64_t>(process.header.start_realtime_ns()) -
                           static_cast<int64_t>(process.header.start_monotonic_ns());
    span.min_offset = std::min(span.min_offset, offset);
    span.max_offset = std::max(span.max_offset, offset);
    span.first = std::min<uint64_t>(span.first, process.header.start_realtime_ns());
    span.last = std::max(span.last, process.last_unix_ns);
  }
  const auto seconds = [](uint64_t ns) { return std::to_string(ns / 1'000'000'000) + " s"; };
  for (const auto& [host, span] : hosts) {
    if (span.max_offset - span.min_offset > kTolerance) {
      data.warnings.push_back("CLOCK_REALTIME of host " + host + " moved by " +
                              seconds(static_cast<uint64_t>(span.max_offset - span.min_offset)) +
                              " against its monotonic clock between process starts (stepped?): times of its "
                              "processes may be off by as much");
    }
  }
  for (auto a = hosts.begin(); a != hosts.end(); ++a) {
    for (auto b = std::next(a); b != hosts.end(); ++b) {
      const Span& x = a->second;
      const Span& y = b->second;
      if (x.last + kTolerance >= y.first && y.last + kTolerance >= x.first) continue;
      const uint64_t gap = x.last < y.first ? y.first - x.last : x.first - y.last;
      data.warnings.push_back("hosts " + a->first + " and " + b->first + " recorded " + seconds(gap) +
                              " apart and never at the same time: their clocks disagree (" +
                              kClockAssumption + ") or these directories are not one run");
    }
  }
}

}  // namespace

std::vector<std::string> RunSource::session_dirs() const {
  std::vector<std::string> found;
  for (const std::string& dir : dirs) {
    if (!reader::session_log_files_or_empty(dir).empty()) {
      found.push_back(dir);
      continue;
    }
    std::vector<std::string> inside;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
      if (entry.is_directory(error) && !entry.is_symlink(error) &&
          !reader::session_log_files_or_empty(entry.path().string()).empty()) {
        inside.push_back(entry.path().string());
      }
    }
    std::sort(inside.begin(), inside.end());
    if (inside.empty()) inside.push_back(dir);
    found.insert(found.end(), inside.begin(), inside.end());
  }
  return found;
}

std::string RunSource::describe() const {
  std::string text;
  for (const std::string& dir : dirs) text += (text.empty() ? "" : ", ") + dir;
  return dirs.size() > 1 ? text + " (" + std::to_string(dirs.size()) + " session directories)" : text;
}

// Each launch's time as the step from the one before (rows come sorted by time); the signed
// offset zigzagged; has_gpu in the process's lowest bit.
size_t ReplayRow::encode(std::span<const ReplayRow> rows, std::byte* out) {
  std::byte* const start = out;
  uint64_t previous = 0;
  for (const ReplayRow& row : rows) {
    out = put_varint(out, uint64_t{row.process} << 1 | uint64_t{row.has_gpu});
    out = put_varint(out, row.exec_id);
    out = put_varint(out, row.stream_id);
    out = put_varint(out, row.thread);
    out = put_varint(out, row.unix_ns - previous);
    out = put_varint(out, row.cpu_ns);
    const auto offset = static_cast<uint64_t>(row.gpu_offset_ns);
    out = put_varint(out, offset << 1 ^ (row.gpu_offset_ns < 0 ? ~uint64_t{0} : 0));
    out = put_varint(out, row.gpu_ns);
    previous = row.unix_ns;
  }
  return static_cast<size_t>(out - start);
}

void ReplayRow::decode(std::span<const std::byte> bytes, std::span<ReplayRow> rows) {
  const std::byte* in = bytes.data();
  const std::byte* const end = in + bytes.size();
  bool whole = true;  // checked once, at the end: a damaged varint makes every later one fail too
  const auto next = [&] {
    uint64_t value = 0;
    whole = reader::get_varint(in, end, value) && whole;
    return value;
  };
  uint64_t previous = 0;
  for (ReplayRow& row : rows) {
    const uint64_t process = next();
    row.process = static_cast<uint32_t>(process >> 1);
    row.has_gpu = (process & 1) != 0;
    row.exec_id = static_cast<uint32_t>(next());
    row.stream_id = static_cast<uint32_t>(next());
    row.thread = static_cast<uint32_t>(next());
    row.unix_ns = previous + next();
    row.cpu_ns = next();
    const uint64_t offset = next();
    row.gpu_offset_ns = static_cast<int64_t>(offset >> 1 ^ (~(offset & 1) + 1));
    row.gpu_ns = next();
    previous = row.unix_ns;
  }
  if (!whole) throw std::runtime_error("a sort run does not decode: its temporary file is damaged");
}

uint32_t Process::tid(uint32_t thread) const {
  const auto it = threads.find(thread);
  return it == threads.end() ? 0 : it->second.tid();
}

std::vector<SessionTables::HostProcesses> SessionTables::hosts() const {
  std::vector<HostProcesses> hosts;
  for (uint32_t index = 0; index < processes.size(); ++index) {
    const std::string& name = processes[index].host();
    auto host =
        std::find_if(hosts.begin(), hosts.end(), [&](const HostProcesses& h) { return h.host == name; });
    if (host == hosts.end()) host = hosts.insert(hosts.end(), {name, {}});
    host->processes.push_back(index);
  }
  return hosts;
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

SessionStream::SessionStream(const RunSource& source, SortMemory& memory) : SessionStream(memory) {
  SessionTables& data = tables;
  const std::vector<std::string> dirs = source.session_dirs();
  std::vector<std::string> skipped;
  std::string run_dir, run_id;
  for (const std::string& dir : dirs) {
    const reader::SessionDir session(dir);
    const size_t first_of_dir = data.processes.size();
    data.processes.reserve(first_of_dir + session.log_names().size());
    // With several directories the same log name (pid) may come from two hosts, and every
    // host's directory may have the same name (the session id): the path says which.
    const std::string prefix = dirs.size() > 1 ? dir + "/" : "";
    for (const std::string& name : session.log_names()) {
      const std::string path = session.path_of(name);
      const auto index = static_cast<uint32_t>(data.processes.size());
      data.processes.emplace_back();
      Process& process = data.processes.back();
      process.file = prefix + name;
      Handoff handoff(*this);
      ProcessCollector collect(*this, handoff, index);
      // The header is filled in before the first record is visited, so times resolve as we go; a
      // log that cannot be used throws before any record is visited.
      try {
        process.stats = reader::read_log(
            session.open_log(name), path, process.header, [&](Record& record) { collect(record); },
            [&](const reader::GraphReplayFields& replay) { collect.replay(replay); });
      } catch (const reader::ReadError& error) {
        data.processes.pop_back();
        skipped.emplace_back(error.what());
        continue;
      }
      collect.finish();
      handoff.finish();
      ProcessInfo info = process.header.info();
      merge_info(info, process.info);
      process.info = std::move(info);
      process.last_unix_ns = std::max(process.last_unix_ns, process.header.start_realtime_ns());
    }
    // A directory's session is its first log's; the first directory's is the run's.
    if (data.processes.size() == first_of_dir) continue;
    const std::string& id = data.processes[first_of_dir].header.session_id();
    if (run_dir.empty()) {
      run_dir = dir;
      run_id = id;
    } else if (id != run_id) {
      std::string different = run_dir;
      different.append(" (session ").append(run_id).append(") and ").append(dir);
      different.append(" (session ").append(id).append(")");
      if (!source.force) {
        throw reader::ReadError(different +
                                " are different sessions; pass --force to read them as one run all the same");
      }
      data.warnings.push_back(different + " are different sessions, read as one run (--force)");
    }
  }
  if (data.processes.empty()) {
    std::string reasons;
    for (const std::string& reason : skipped) reasons += (reasons.empty() ? "" : "; ") + reason;
    throw reader::ReadError(source.describe() + " holds no usable process log: " + reasons);
  }
  for (const std::string& reason : skipped) data.warnings.push_back(reason + "; skipped");
  warn_about_copies(data);
  warn_about_clocks(data);
  data.start_unix_ns = data.processes.front().header.start_realtime_ns();
  for (const Process& process : data.processes) {
    data.start_unix_ns = std::min(data.start_unix_ns, process.header.start_realtime_ns());
  }
  sort_by_time(data.captures);
  sort_by_time(data.patches);
  sort_by_time(data.notices);
}

}  // namespace profilemate::exporter
