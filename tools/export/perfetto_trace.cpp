#include "perfetto_trace.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "event_labels.h"
#include "perfetto_trace.pb.h"
#include "units.h"

namespace profilemate::exporter {
namespace {

namespace pf = profilemate::perfetto;

using Key = std::pair<uint32_t, uint32_t>;

constexpr uint32_t kSeqIncrementalStateCleared = 1;  // TracePacket.SequenceFlags
constexpr int kPercentDecimals = 2;
constexpr int kMillisDecimals = 3;

// Track uuids: kind in the top byte, the process index, then a number within the process (thread
// index, stream id, counter; a GPU stream's further lanes are numbered in the order they are
// made). Stable across runs of the exporter, never 0.
enum class TrackKind : uint64_t { kProcess = 1, kThread, kScheduler, kGpuStream, kCounter, kGpuLane };
enum Counter : uint32_t { kKvUsage, kBatchTokens, kRunning, kWaiting };

uint64_t track_uuid(TrackKind kind, uint32_t process, uint32_t number = 0) {
  return (static_cast<uint64_t>(kind) << 56) | (static_cast<uint64_t>(process) << 32) | number;
}

// What an event is drawn from: a row of one of SessionData's vectors, by index.
enum class Source : uint8_t {
  kStep,
  kPreemption,
  kForwardPass,
  kCpuOperation,
  kCapture,
  kEncoder,
  kMoe,
  kLaunch,
  kGpu,
  kKvCounter,
  kTokensCounter,
  kRunningCounter,
  kWaitingCounter,
};

enum class Op : uint8_t { kBegin, kEnd, kInstant, kCounter };

// One TrackEvent to write; names and annotations are made from the row when it is written, so a
// session of millions of replays costs 24 bytes per event until then.
struct Event {
  uint64_t unix_ns = 0;
  uint64_t track = 0;
  uint32_t index = 0;
  Source source = Source::kStep;
  Op op = Op::kBegin;
};

struct Interval {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint32_t index = 0;
  Source source = Source::kStep;
};

// BEGIN/END events of one track's slices. Perfetto closes the most recently opened slice on an
// END (the END does not say which slice it ends), so slices must nest. On a thread they do, as
// calls do, but for rounding: a thread's events come from two recorders (the Python hooks and
// CUPTI), and a slice that outlives the one it started in by such a difference is cut at its
// parent's end rather than closing the parent in its place. An END comes before a BEGIN at the same time, so
// back-to-back slices are siblings.
void nest(std::vector<Interval>& intervals, uint64_t track, std::vector<Event>& out) {
  std::stable_sort(intervals.begin(), intervals.end(), [](const Interval& a, const Interval& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;  // parents first
  });
  std::vector<uint64_t> open_ends;
  for (const Interval& slice : intervals) {
    while (!open_ends.empty() && open_ends.back() <= slice.begin) {
      out.push_back({open_ends.back(), track, 0, slice.source, Op::kEnd});
      open_ends.pop_back();
    }
    const uint64_t end = open_ends.empty() ? slice.end : std::min(slice.end, open_ends.back());
    out.push_back({slice.begin, track, slice.index, slice.source, Op::kBegin});
    open_ends.push_back(end);
  }
  while (!open_ends.empty()) {
    out.push_back({open_ends.back(), track, 0, Source::kStep, Op::kEnd});
    open_ends.pop_back();
  }
}

// A GPU stream's slices, in lanes where no two overlap. Graph executions do not call one another,
// so nesting would misdraw them; and an overlap on one stream is real data to show (executions
// queued on one stream run one after the other, but the CUPTI timestamps of back-to-back ones can
// overlap by clock interpolation, and a stream id may stand for more than one stream). Each slice
// goes to the first lane that is free at its start; the extra lanes are tracks of the same name
// under the same process, which the Perfetto UI merges into one track with several rows.
std::vector<std::vector<Interval>> lanes(std::vector<Interval>& intervals) {
  std::stable_sort(intervals.begin(), intervals.end(),
                   [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
  std::vector<std::vector<Interval>> lanes;
  for (const Interval& slice : intervals) {
    const auto free = std::find_if(lanes.begin(), lanes.end(), [&](const std::vector<Interval>& lane) {
      return lane.back().end <= slice.begin;
    });
    if (free == lanes.end()) {
      lanes.push_back({slice});
    } else {
      free->push_back(slice);
    }
  }
  return lanes;
}

void annotate_uint(pf::TrackEvent& event, const char* name, uint64_t value) {
  pf::DebugAnnotation* annotation = event.add_debug_annotations();
  annotation->set_name(name);
  annotation->set_uint_value(value);
}
void annotate_int(pf::TrackEvent& event, const char* name, int64_t value) {
  pf::DebugAnnotation* annotation = event.add_debug_annotations();
  annotation->set_name(name);
  annotation->set_int_value(value);
}
void annotate_double(pf::TrackEvent& event, const char* name, double value) {
  pf::DebugAnnotation* annotation = event.add_debug_annotations();
  annotation->set_name(name);
  annotation->set_double_value(value);
}
void annotate_text(pf::TrackEvent& event, const char* name, std::string_view value) {
  pf::DebugAnnotation* annotation = event.add_debug_annotations();
  annotation->set_name(name);
  annotation->set_string_value(std::string(value));
}
// Rounded as the CSV files round them, so the details panel shows the numbers of the CSV files.
double rounded(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(value * scale) / scale;
}
double rounded_ms(uint64_t ns) {
  return rounded(ms(ns), kMillisDecimals);
}

// Writes length-delimited packets: a trace file is a Trace message, and each packet is its
// field 1, so packets can be written one at a time instead of building the whole message.
class PacketFile {
 public:
  explicit PacketFile(std::string path) : path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "wb");
    if (file_ == nullptr) fail();
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  }
  ~PacketFile() {
    if (file_ != nullptr) {
      std::fclose(file_);
      std::remove(path_.c_str());  // only reached when writing failed part-way
    }
  }
  PacketFile(const PacketFile&) = delete;
  PacketFile& operator=(const PacketFile&) = delete;

  void write(const pf::TracePacket& packet) {
    bytes_.clear();
    if (!packet.SerializeToString(&bytes_)) throw std::runtime_error("cannot encode a trace packet");
    char prefix[11];
    size_t length = 0;
    prefix[length++] = 0x0a;        // field 1, length-delimited
    uint64_t size = bytes_.size();  // a base-128 varint, low group first
    for (; size >= 0x80; size >>= 7) prefix[length++] = static_cast<char>((size & 0x7f) | 0x80);
    prefix[length++] = static_cast<char>(size);
    if (std::fwrite(prefix, 1, length, file_) != length ||
        std::fwrite(bytes_.data(), 1, bytes_.size(), file_) != bytes_.size())
      fail();
    written_ += length + bytes_.size();
  }

  // Closes the file; throws if anything did not reach it.
  uint64_t close() {
    std::FILE* file = file_;
    file_ = nullptr;
    if (std::fflush(file) != 0 || std::fclose(file) != 0) {
      const int error = errno;
      std::remove(path_.c_str());
      throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(error));
    }
    return written_;
  }

 private:
  [[noreturn]] void fail() const {
    throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  std::string bytes_;
  uint64_t written_ = 0;
};

class TraceBuilder {
 public:
  TraceBuilder(const SessionData& data, const std::string& path, TraceProgress progress)
      : data_(data), file_(path), progress_(std::move(progress)), origins_(exec_origins(data)) {}

  TraceSummary build() {
    collect();
    write_descriptors();
    for (auto& [key, intervals] : thread_slices_) {
      std::vector<Event> events;
      nest(intervals, thread_track(key.first, key.second), events);
      std::vector<Interval>().swap(intervals);
      write_sequence(events);
    }
    for (auto& [key, stream] : gpu_streams_) {
      std::vector<Event> events;
      for (size_t lane = 0; lane < stream.lanes.size(); ++lane)
        nest(stream.lanes[lane], stream.uuids[lane], events);
      stream = {};
      write_sequence(events);
    }
    for (uint32_t process = 0; process < data_.processes.size(); ++process) {
      write_scheduler(process);
      write_kv_usage(process);
    }
    summary_.bytes = file_.close();
    if (progress_) progress_(total_events_, total_events_);
    return summary_;
  }

 private:
  // Sorts every row onto its track, and notes which tracks the trace needs.
  void collect() {
    const auto on_thread = [&](uint32_t process, uint32_t thread, Interval interval) {
      thread_slices_[{process, thread}].push_back(interval);
    };
    const auto index = [](size_t i) { return static_cast<uint32_t>(i); };
    for (size_t i = 0; i < data_.forward_passes.size(); ++i) {
      const Row<ForwardPass>& row = data_.forward_passes[i];
      on_thread(row.process, row.event.thread(),
                {row.unix_ns, row.unix_ns + row.event.duration_ns(), index(i), Source::kForwardPass});
    }
    for (size_t i = 0; i < data_.cpu_operations.size(); ++i) {
      const Row<CpuOperation>& row = data_.cpu_operations[i];
      // kv_cache_manager.* rows are sums over a window of calls (one per request per step), not
      // one call: drawn as a slice they would claim the thread for the whole summed time.
      if (row.event.operation().starts_with("kv_cache_manager.")) continue;
      on_thread(row.process, row.event.thread(),
                {row.unix_ns, row.unix_ns + row.event.duration_ns(), index(i), Source::kCpuOperation});
    }
    for (size_t i = 0; i < data_.captures.size(); ++i) {
      const Row<GraphCapture>& row = data_.captures[i];
      on_thread(row.process, row.event.thread(),
                {row.unix_ns, row.unix_ns + row.event.duration_ns(), index(i), Source::kCapture});
    }
    for (size_t i = 0; i < data_.encoder_timing.size(); ++i) {
      const Row<EncoderTiming>& row = data_.encoder_timing[i];
      on_thread(row.process, row.event.thread(),
                {row.unix_ns, row.unix_ns + row.event.duration_ns(), index(i), Source::kEncoder});
    }
    for (size_t i = 0; i < data_.moe_timing.size(); ++i) {
      const Row<MoeLayerTiming>& row = data_.moe_timing[i];
      on_thread(row.process, row.event.thread(),
                {row.unix_ns, row.unix_ns + row.event.duration_ns(), index(i), Source::kMoe});
    }
    for (size_t i = 0; i < data_.replays.size(); ++i) {
      const ReplayRow& replay = data_.replays[i];
      on_thread(replay.process, replay.thread,
                {replay.unix_ns, replay.unix_ns + replay.cpu_ns, index(i), Source::kLaunch});
      if (!replay.has_gpu) continue;
      const auto start = static_cast<uint64_t>(static_cast<int64_t>(replay.unix_ns) + replay.gpu_offset_ns);
      gpu_streams_[{replay.process, replay.stream_id}].slices.push_back(
          {start, start + replay.gpu_ns, index(i), Source::kGpu});
    }
    for (auto& [key, stream] : gpu_streams_) {
      stream.lanes = lanes(stream.slices);
      std::vector<Interval>().swap(stream.slices);
      stream.uuids.push_back(track_uuid(TrackKind::kGpuStream, key.first, key.second));
      while (stream.uuids.size() < stream.lanes.size())
        stream.uuids.push_back(track_uuid(TrackKind::kGpuLane, key.first, next_gpu_lane_++));
    }
    for (const Row<SchedulerStep>& row : data_.steps) step_processes_.insert(row.process);
    // A slice is a BEGIN and an END; a step also sets three counters.
    for (const auto& [key, intervals] : thread_slices_) total_events_ += 2 * intervals.size();
    for (const auto& [key, stream] : gpu_streams_) {
      for (const std::vector<Interval>& lane : stream.lanes) total_events_ += 2 * lane.size();
    }
    total_events_ += 5 * data_.steps.size() + data_.preemptions.size() + data_.kv_usage.size();
    scheduler_processes_ = step_processes_;
    for (const Row<Preemption>& row : data_.preemptions) scheduler_processes_.insert(row.process);
    for (const Row<KvUsage>& row : data_.kv_usage) kv_processes_.insert(row.process);
  }

  [[nodiscard]] static uint64_t thread_track(uint32_t process, uint32_t thread) {
    return track_uuid(TrackKind::kThread, process, thread);
  }

  // Every track, before any event: one sequence of TrackDescriptor packets.
  void write_descriptors() {
    const uint32_t sequence = next_sequence_++;
    const auto write = [&](pf::TrackDescriptor track) {
      packet_.Clear();
      packet_.set_timestamp(data_.start_unix_ns);
      packet_.set_trusted_packet_sequence_id(sequence);
      if (summary_.tracks++ == 0) packet_.set_sequence_flags(kSeqIncrementalStateCleared);
      *packet_.mutable_track_descriptor() = std::move(track);
      file_.write(packet_);
    };
    const auto child = [&](uint32_t process, uint64_t uuid, std::string name) {
      pf::TrackDescriptor track;
      track.set_uuid(uuid);
      track.set_parent_uuid(track_uuid(TrackKind::kProcess, process));
      if (!name.empty()) track.set_name(std::move(name));
      return track;
    };
    const auto counter = [&](uint32_t process, Counter which, const char* name, const char* unit) {
      pf::TrackDescriptor track = child(process, track_uuid(TrackKind::kCounter, process, which), name);
      track.mutable_counter()->set_unit_name(unit);
      write(std::move(track));
    };
    for (uint32_t index = 0; index < data_.processes.size(); ++index) {
      const Process& process = data_.processes[index];
      const auto pid = static_cast<int32_t>(process.header.pid());
      pf::TrackDescriptor track;
      track.set_uuid(track_uuid(TrackKind::kProcess, index));
      track.mutable_process()->set_pid(pid);
      track.mutable_process()->set_process_name(
          process.info.process_role().empty() ? "pid " + std::to_string(pid) : process.info.process_role());
      write(std::move(track));

      // Threads the process announced, and any its rows name without an announcement.
      std::set<uint32_t> threads;
      for (const auto& [thread, info] : process.threads) threads.insert(thread);
      for (auto it = thread_slices_.lower_bound({index, 0});
           it != thread_slices_.end() && it->first.first == index; ++it)
        threads.insert(it->first.second);
      for (const uint32_t thread : threads) {
        const auto info = process.threads.find(thread);
        if (info == process.threads.end() || info->second.tid() == 0) {
          // No OS thread id to give Perfetto: a track of the process instead of a thread's.
          write(child(index, thread_track(index, thread), "thread " + std::to_string(thread)));
          continue;
        }
        pf::TrackDescriptor thread_track_descriptor = child(index, thread_track(index, thread), "");
        pf::ThreadDescriptor& thread_descriptor = *thread_track_descriptor.mutable_thread();
        thread_descriptor.set_pid(pid);
        thread_descriptor.set_tid(info->second.tid());
        thread_descriptor.set_thread_name(info->second.name());
        write(std::move(thread_track_descriptor));
      }
      if (scheduler_processes_.contains(index))
        write(child(index, track_uuid(TrackKind::kScheduler, index), "scheduler"));
      for (auto it = gpu_streams_.lower_bound({index, 0});
           it != gpu_streams_.end() && it->first.first == index; ++it) {
        for (const uint64_t lane : it->second.uuids)
          write(child(index, lane, "GPU stream " + std::to_string(it->first.second)));
      }
      if (kv_processes_.contains(index)) counter(index, kKvUsage, "KV cache usage (%)", "%");
      if (step_processes_.contains(index)) {
        counter(index, kBatchTokens, "batch tokens", "tokens");
        counter(index, kRunning, "running requests", "requests");
        counter(index, kWaiting, "waiting requests", "requests");
      }
    }
  }

  // Scheduler steps and preemptions on the process's "scheduler" track, with the step counters.
  void write_scheduler(uint32_t process) {
    if (!scheduler_processes_.contains(process)) return;
    const uint64_t track = track_uuid(TrackKind::kScheduler, process);
    std::vector<Interval> steps;
    std::vector<Event> events;
    for (size_t i = 0; i < data_.steps.size(); ++i) {
      const Row<SchedulerStep>& row = data_.steps[i];
      if (row.process != process) continue;
      const auto index = static_cast<uint32_t>(i);
      steps.push_back({row.unix_ns, row.unix_ns + row.event.schedule_duration_ns(), index, Source::kStep});
      for (const auto& [counter, source] :
           {std::pair{kBatchTokens, Source::kTokensCounter}, std::pair{kRunning, Source::kRunningCounter},
            std::pair{kWaiting, Source::kWaitingCounter}}) {
        events.push_back(
            {row.unix_ns, track_uuid(TrackKind::kCounter, process, counter), index, source, Op::kCounter});
      }
    }
    nest(steps, track, events);
    for (size_t i = 0; i < data_.preemptions.size(); ++i) {
      const Row<Preemption>& row = data_.preemptions[i];
      if (row.process != process) continue;
      events.push_back({row.unix_ns, track, static_cast<uint32_t>(i), Source::kPreemption, Op::kInstant});
    }
    write_sequence(events);
  }

  void write_kv_usage(uint32_t process) {
    if (!kv_processes_.contains(process)) return;
    const uint64_t track = track_uuid(TrackKind::kCounter, process, kKvUsage);
    std::vector<Event> events;
    for (size_t i = 0; i < data_.kv_usage.size(); ++i) {
      const Row<KvUsage>& row = data_.kv_usage[i];
      if (row.process != process) continue;
      events.push_back({row.unix_ns, track, static_cast<uint32_t>(i), Source::kKvCounter, Op::kCounter});
    }
    write_sequence(events);
  }

  // One sequence: its own id, its packets in time order (what Perfetto expects of a sequence).
  // The sort is stable, so each track's END-before-BEGIN order at equal times is kept.
  void write_sequence(std::vector<Event>& events) {
    if (events.empty()) return;
    std::stable_sort(events.begin(), events.end(),
                     [](const Event& a, const Event& b) { return a.unix_ns < b.unix_ns; });
    const uint32_t sequence = next_sequence_++;
    bool first = true;
    for (const Event& event : events) {
      packet_.Clear();
      packet_.set_timestamp(event.unix_ns);
      packet_.set_trusted_packet_sequence_id(sequence);
      if (first) packet_.set_sequence_flags(kSeqIncrementalStateCleared);
      first = false;
      pf::TrackEvent& track_event = *packet_.mutable_track_event();
      track_event.set_track_uuid(event.track);
      switch (event.op) {
        case Op::kBegin:
          track_event.set_type(pf::TrackEvent::TYPE_SLICE_BEGIN);
          describe_slice(event, track_event);
          ++summary_.slices;
          break;
        case Op::kEnd: track_event.set_type(pf::TrackEvent::TYPE_SLICE_END); break;
        case Op::kInstant:
          track_event.set_type(pf::TrackEvent::TYPE_INSTANT);
          describe_preemption(data_.preemptions[event.index].event, track_event);
          ++summary_.instants;
          break;
        case Op::kCounter:
          track_event.set_type(pf::TrackEvent::TYPE_COUNTER);
          set_counter_value(event, track_event);
          ++summary_.counter_values;
          break;
      }
      file_.write(packet_);
      if (progress_ && (++events_done_ & 0xffff) == 0) progress_(events_done_, total_events_);
    }
    if (progress_) progress_(events_done_, total_events_);
  }

  void set_counter_value(const Event& event, pf::TrackEvent& track_event) const {
    if (event.source == Source::kKvCounter) {
      const KvUsage& usage = data_.kv_usage[event.index].event;
      track_event.set_double_counter_value(percent(usage.used_blocks(), usage.total_blocks()));
      return;
    }
    const SchedulerStep& step = data_.steps[event.index].event;
    switch (event.source) {
      case Source::kTokensCounter: track_event.set_counter_value(step.num_tokens()); break;
      case Source::kRunningCounter: track_event.set_counter_value(step.running_queue_len()); break;
      default: track_event.set_counter_value(step.waiting_queue_len()); break;
    }
  }

  void describe_slice(const Event& event, pf::TrackEvent& out) {
    switch (event.source) {
      case Source::kStep: {
        const SchedulerStep& step = data_.steps[event.index].event;
        out.set_name("step " + std::to_string(step.step()));
        out.add_categories("vllm");
        annotate_uint(out, "tokens", step.num_tokens());
        annotate_uint(out, "seqs", step.num_seqs());
        annotate_text(out, "phase", phase_name(step_phase(step)));
        annotate_double(out, "token_utilization_pct",
                        rounded(percent(step.num_tokens(), step.max_tokens()), kPercentDecimals));
        annotate_double(out, "seq_utilization_pct",
                        rounded(percent(step.num_seqs(), step.max_num_seqs()), kPercentDecimals));
        annotate_uint(out, "running", step.running_queue_len());
        annotate_uint(out, "waiting", step.waiting_queue_len());
        break;
      }
      case Source::kForwardPass: {
        const ForwardPass& pass = data_.forward_passes[event.index].event;
        out.set_name("forward step " + std::to_string(pass.step()));
        out.add_categories("vllm");
        annotate_text(out, "phase", phase_name(pass.phase()));
        annotate_uint(out, "batch_size", pass.batch_size());
        annotate_uint(out, "num_tokens", pass.num_tokens());
        if (pass.has_gpu_duration_ns())
          annotate_double(out, "gpu_time_ms", rounded_ms(pass.gpu_duration_ns()));
        break;
      }
      case Source::kCpuOperation: {
        const CpuOperation& op = data_.cpu_operations[event.index].event;
        out.set_name(op.operation());
        out.add_categories("vllm");
        if (op.step() != 0) annotate_uint(out, "step", op.step());
        if (!op.context().empty()) annotate_text(out, "context", op.context());
        break;
      }
      case Source::kCapture: {
        const GraphCapture& capture = data_.captures[event.index].event;
        out.set_name(capture.has_context() ? "capture " + descriptor_name(capture.context())
                                           : "capture graph " + std::to_string(capture.graph_id()));
        out.add_categories("cuda");
        annotate_uint(out, "graph_id", capture.graph_id());
        annotate_uint(out, "stream_id", capture.stream_id());
        annotate_uint(out, "node_count", capture.node_count());
        annotate_text(out, "status", capture.status() == GraphCapture::FAILED ? "failed" : "ok");
        if (!capture.context().wrapper().empty()) annotate_text(out, "wrapper", capture.context().wrapper());
        break;
      }
      case Source::kEncoder: {
        const EncoderTiming& timing = data_.encoder_timing[event.index].event;
        out.set_name(timing.component());
        out.add_categories("vllm");
        if (timing.step() != 0) annotate_uint(out, "step", timing.step());
        if (!timing.context().empty()) annotate_text(out, "context", timing.context());
        if (timing.has_gpu_duration_ns())
          annotate_double(out, "gpu_time_ms", rounded_ms(timing.gpu_duration_ns()));
        break;
      }
      case Source::kMoe: {
        const MoeLayerTiming& timing = data_.moe_timing[event.index].event;
        out.set_name("moe layer " + std::to_string(timing.layer()));
        out.add_categories("vllm");
        annotate_uint(out, "num_tokens", timing.num_tokens());
        if (timing.has_gpu_duration_ns())
          annotate_double(out, "gpu_time_ms", rounded_ms(timing.gpu_duration_ns()));
        break;
      }
      case Source::kLaunch: {
        const ReplayRow& replay = data_.replays[event.index];
        out.set_name("cudaGraphLaunch");
        out.add_categories("cuda");
        annotate_uint(out, "exec_id", replay.exec_id);
        annotate_uint(out, "stream_id", replay.stream_id);
        if (replay.has_gpu) {
          out.add_flow_ids(flow_id(event.index));
          ++summary_.flows;
        }
        break;
      }
      case Source::kGpu: {
        const ReplayRow& replay = data_.replays[event.index];
        out.set_name(gpu_slice_name(replay));
        out.add_categories("cuda");
        annotate_uint(out, "exec_id", replay.exec_id);
        annotate_int(out, "launch_to_gpu_start_ns", replay.gpu_offset_ns);
        out.add_terminating_flow_ids(flow_id(event.index));
        break;
      }
      default: break;
    }
  }

  static void describe_preemption(const Preemption& preemption, pf::TrackEvent& out) {
    out.set_name(preemption.event().empty() ? "preempted" : preemption.event());
    out.add_categories("vllm");
    annotate_text(out, "request_id", preemption.request_id());
    if (!preemption.reason().empty()) annotate_text(out, "reason", preemption.reason());
    annotate_uint(out, "computed_tokens_lost", preemption.computed_tokens_lost());
    annotate_uint(out, "blocks_freed", preemption.blocks_freed());
    if (preemption.has_kv_usage_before_pct())
      annotate_double(out, "kv_usage_before_pct",
                      rounded(preemption.kv_usage_before_pct(), kPercentDecimals));
  }

  // The replay's index in data_.replays, plus one: unique in the trace, never 0.
  static uint64_t flow_id(uint32_t replay) { return uint64_t{replay} + 1; }

  // The graph's batch descriptor, from the capture that labelled it.
  std::string gpu_slice_name(const ReplayRow& replay) const {
    const auto origin = origins_.find({replay.process, replay.exec_id});
    if (origin != origins_.end() && origin->second.capture != nullptr &&
        origin->second.capture->has_context())
      return descriptor_name(origin->second.capture->context());
    return "graph exec " + std::to_string(replay.exec_id);
  }

  const SessionData& data_;
  PacketFile file_;
  const TraceProgress progress_;
  const std::map<Key, ExecOrigin> origins_;
  std::map<Key, std::vector<Interval>> thread_slices_;  // (process, thread index)
  struct GpuStream {
    std::vector<Interval> slices;
    std::vector<std::vector<Interval>> lanes;
    std::vector<uint64_t> uuids;  // one per lane
  };
  std::map<Key, GpuStream> gpu_streams_;  // (process, stream id)
  uint32_t next_gpu_lane_ = 0;
  std::set<uint32_t> step_processes_;
  std::set<uint32_t> scheduler_processes_;  // with steps or preemptions
  std::set<uint32_t> kv_processes_;
  pf::TracePacket packet_;
  TraceSummary summary_;
  uint32_t next_sequence_ = 1;
  uint64_t events_done_ = 0;
  uint64_t total_events_ = 0;  // known once every row is on its track
};

}  // namespace

TraceSummary write_perfetto_trace(const SessionData& data, const std::string& path,
                                  const TraceProgress& progress) {
  return TraceBuilder(data, path, progress).build();
}

}  // namespace profilemate::exporter
