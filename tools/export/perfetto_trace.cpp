#include "perfetto_trace.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <queue>
#include <set>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "atomic_output.h"
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
enum class TrackKind : uint64_t { kProcess = 1, kThread, kScheduler, kGpuStream, kCounter, kGpuLane, kHost };
// With several hosts each is a Perfetto process of this pid plus its index (above any Linux pid,
// 2^22), and each vLLM process a track group inside it: pids repeat across hosts.
constexpr int32_t kHostPidBase = 1 << 30;
enum Counter : uint32_t { kKvUsage, kBatchTokens, kRunning, kWaiting };

uint64_t track_uuid(TrackKind kind, uint32_t process, uint32_t number = 0) {
  return (static_cast<uint64_t>(kind) << 56) | (static_cast<uint64_t>(process) << 32) | number;
}

// Where a trace event sorts: by time, and at equal times the slice that ends later first, so
// that a parent opens before its children.
struct TraceKey {
  uint64_t unix_ns = 0;
  uint64_t later_end_first = 0;  // UINT64_MAX - end
  bool operator<(const TraceKey& other) const {
    return unix_ns != other.unix_ns ? unix_ns < other.unix_ns : later_end_first < other.later_end_first;
  }
};

enum class Op : uint8_t { kBegin, kInstant, kCounter };

// A sorted event's payload: this, then its TrackEvent (name, annotations, value) serialized. The
// TrackEvent is made from the row as the row is read, so nothing needs the row again.
struct Item {
  uint64_t track = 0;  // a GPU execution: its stream's first lane (the lane is chosen when written)
  uint64_t end = 0;    // a slice's end
  Op op = Op::kBegin;
};

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
  explicit PacketFile(std::string path) : output_(std::move(path)) {
    std::setvbuf(output_.file(), nullptr, _IOFBF, 1 << 20);
  }

  void write(const pf::TracePacket& packet) {
    bytes_.clear();
    if (!packet.SerializeToString(&bytes_)) throw std::runtime_error("cannot encode a trace packet");
    char prefix[11];
    size_t length = 0;
    prefix[length++] = 0x0a;        // field 1, length-delimited
    uint64_t size = bytes_.size();  // a base-128 varint, low group first
    for (; size >= 0x80; size >>= 7) prefix[length++] = static_cast<char>((size & 0x7f) | 0x80);
    prefix[length++] = static_cast<char>(size);
    if (std::fwrite(prefix, 1, length, output_.file()) != length ||
        std::fwrite(bytes_.data(), 1, bytes_.size(), output_.file()) != bytes_.size())
      output_.fail();
    written_ += length + bytes_.size();
  }

  // Closes the file; throws if anything did not reach it.
  uint64_t close() {
    output_.commit();
    return written_;
  }

 private:
  AtomicOutput output_;
  std::string bytes_;
  uint64_t written_ = 0;
};

// Writes the trace in one pass over the session's rows: every event goes into one sorted sink
// (spilling to disk past its memory bound), and is written as it comes back in time order, all
// events in one sequence. A slice's END waits in a heap until time passes it; slices that outlive
// their parent on a thread are cut at the parent's end (see nest_end), and a GPU stream's
// executions are spread over lanes where none overlaps (see lane_for).
class TraceBuilder {
 public:
  TraceBuilder(SessionStream& session, const std::string& path, TraceProgress progress)
      : session_(session),
        tables_(session.tables),
        file_(path),
        memory_(std::filesystem::path(path).parent_path().string(), kTraceSortMemoryBytes),
        events_(memory_),
        progress_(std::move(progress)),
        origins_(exec_origins(tables_)) {}

  TraceSummary build() {
    collect();
    write_known_tracks();
    events_.drain([&](const TraceKey& key, std::span<const std::byte> payload) {
      Item item;
      std::memcpy(&item, payload.data(), sizeof item);
      write_event(key.unix_ns, item, payload.subspan(sizeof item));
    });
    end_slices(UINT64_MAX);
    summary_.bytes = file_.close();
    if (progress_) progress_(total_events_, total_events_);
    return summary_;
  }

 private:
  // Every row into the sink, as an event on its track.
  void collect() {
    pf::TrackEvent out;
    const auto slice = [&](uint64_t begin, uint64_t end, uint64_t track) {
      push({begin, UINT64_MAX - end}, {track, end, Op::kBegin}, out);
      ++summary_.slices;
    };
    // The order of the rows at equal times on a thread: forward passes, operations, captures,
    // encoders, MoE layers, launches.
    SessionStream::drain_events<ForwardPass>(session_.forward_passes, [&](const Row<ForwardPass>& row) {
      describe(row.event, out);
      slice(row.unix_ns, row.unix_ns + row.event.duration_ns(),
            thread_track(row.process, row.event.thread()));
    });
    SessionStream::drain_events<CpuOperation>(session_.cpu_operations, [&](const Row<CpuOperation>& row) {
      // kv_cache_manager.* rows are sums over a window of calls (one per request per step), not
      // one call: drawn as a slice they would claim the thread for the whole summed time.
      if (row.event.operation().starts_with("kv_cache_manager.")) return;
      describe(row.event, out);
      slice(row.unix_ns, row.unix_ns + row.event.duration_ns(),
            thread_track(row.process, row.event.thread()));
    });
    for (const Row<GraphCapture>& row : tables_.captures) {
      describe(row.event, out);
      slice(row.unix_ns, row.unix_ns + row.event.duration_ns(),
            thread_track(row.process, row.event.thread()));
    }
    SessionStream::drain_events<EncoderTiming>(session_.encoder_timing, [&](const Row<EncoderTiming>& row) {
      describe(row.event, out);
      slice(row.unix_ns, row.unix_ns + row.event.duration_ns(),
            thread_track(row.process, row.event.thread()));
    });
    SessionStream::drain_events<MoeLayerTiming>(session_.moe_timing, [&](const Row<MoeLayerTiming>& row) {
      describe(row.event, out);
      slice(row.unix_ns, row.unix_ns + row.event.duration_ns(),
            thread_track(row.process, row.event.thread()));
    });
    uint64_t replay_number = 0;
    SessionStream::drain_replays(session_.replays, [&](const ReplayRow& replay) {
      // Unique in the trace, never 0.
      const uint64_t flow = ++replay_number;
      describe_launch(replay, replay.has_gpu ? flow : 0, out);
      slice(replay.unix_ns, replay.unix_ns + replay.cpu_ns, thread_track(replay.process, replay.thread));
      if (!replay.has_gpu) return;
      ++summary_.flows;
      const auto start = static_cast<uint64_t>(static_cast<int64_t>(replay.unix_ns) + replay.gpu_offset_ns);
      describe_gpu(replay, flow, out);
      slice(start, start + replay.gpu_ns,
            track_uuid(TrackKind::kGpuStream, replay.process, replay.stream_id));
    });
    SessionStream::drain_events<SchedulerStep>(session_.steps, [&](const Row<SchedulerStep>& row) {
      const SchedulerStep& step = row.event;
      for (const auto& [counter, value] :
           {std::pair{kBatchTokens, step.num_tokens()}, std::pair{kRunning, step.running_queue_len()},
            std::pair{kWaiting, step.waiting_queue_len()}}) {
        out.Clear();
        out.set_counter_value(value);
        counter_value(row.unix_ns, track_uuid(TrackKind::kCounter, row.process, counter), out);
      }
      describe(step, out);
      slice(row.unix_ns, row.unix_ns + step.schedule_duration_ns(),
            track_uuid(TrackKind::kScheduler, row.process));
    });
    SessionStream::drain_events<Preemption>(session_.preemptions, [&](const Row<Preemption>& row) {
      describe(row.event, out);
      push({row.unix_ns, 0}, {track_uuid(TrackKind::kScheduler, row.process), row.unix_ns, Op::kInstant},
           out);
      ++summary_.instants;
    });
    SessionStream::drain_events<KvUsage>(session_.kv_usage, [&](const Row<KvUsage>& row) {
      out.Clear();
      out.set_double_counter_value(percent(row.event.used_blocks(), row.event.total_blocks()));
      counter_value(row.unix_ns, track_uuid(TrackKind::kCounter, row.process, kKvUsage), out);
    });
    // A slice is a BEGIN and an END.
    total_events_ = 2 * summary_.slices + summary_.instants + summary_.counter_values;
  }

  void counter_value(uint64_t unix_ns, uint64_t track, const pf::TrackEvent& out) {
    push({unix_ns, 0}, {track, unix_ns, Op::kCounter}, out);
    ++summary_.counter_values;
  }

  void push(const TraceKey& key, const Item& item, const pf::TrackEvent& out) {
    payload_.resize(sizeof item);
    std::memcpy(payload_.data(), &item, sizeof item);
    if (!out.AppendToString(&payload_)) throw std::runtime_error("cannot encode a trace event");
    events_.push(key, std::as_bytes(std::span(payload_.data(), payload_.size())));
  }

  [[nodiscard]] static uint64_t thread_track(uint32_t process, uint32_t thread) {
    return track_uuid(TrackKind::kThread, process, thread);
  }

  // Track descriptors go in a sequence of their own, each before the first event on its track.
  void describe_track(pf::TrackDescriptor track, uint64_t unix_ns) {
    described_.insert(track.uuid());
    packet_.Clear();
    packet_.set_timestamp(std::max(unix_ns, tables_.start_unix_ns));
    packet_.set_trusted_packet_sequence_id(kTrackSequence);
    if (summary_.tracks++ == 0) packet_.set_sequence_flags(kSeqIncrementalStateCleared);
    *packet_.mutable_track_descriptor() = std::move(track);
    file_.write(packet_);
  }

  static pf::TrackDescriptor child(uint32_t process, uint64_t uuid, std::string name) {
    pf::TrackDescriptor track;
    track.set_uuid(uuid);
    track.set_parent_uuid(track_uuid(TrackKind::kProcess, process));
    if (!name.empty()) track.set_name(std::move(name));
    return track;
  }

  // The processes and the threads they announced, before any event.
  void write_known_tracks() {
    const std::vector<SessionTables::HostProcesses> hosts = tables_.hosts();
    std::vector<uint32_t> host_of(tables_.processes.size());
    for (uint32_t host = 0; host < hosts.size(); ++host) {
      for (const uint32_t process : hosts[host].processes) host_of[process] = host;
    }
    const bool grouped = hosts.size() > 1;
    for (uint32_t host = 0; grouped && host < hosts.size(); ++host) {
      pf::TrackDescriptor track;
      track.set_uuid(track_uuid(TrackKind::kHost, host));
      track.mutable_process()->set_pid(kHostPidBase + static_cast<int32_t>(host));
      track.mutable_process()->set_process_name("host " + hosts[host].host);
      describe_track(std::move(track), tables_.start_unix_ns);
    }
    for (uint32_t index = 0; index < tables_.processes.size(); ++index) {
      const Process& process = tables_.processes[index];
      const auto pid = static_cast<int32_t>(process.header.pid());
      const std::string name =
          process.info.process_role().empty() ? "pid " + std::to_string(pid) : process.info.process_role();
      pf::TrackDescriptor track;
      track.set_uuid(track_uuid(TrackKind::kProcess, index));
      if (grouped) {
        track.set_parent_uuid(track_uuid(TrackKind::kHost, host_of[index]));
        track.set_name(process.info.process_role().empty() ? name
                                                           : name + " (pid " + std::to_string(pid) + ")");
      } else {
        track.mutable_process()->set_pid(pid);
        track.mutable_process()->set_process_name(name);
      }
      describe_track(std::move(track), tables_.start_unix_ns);
      for (const auto& [thread, info] : process.threads) {
        if (info.tid() == 0) continue;  // no OS thread id to give Perfetto: described as any unknown thread
        pf::TrackDescriptor thread_track_descriptor = child(index, thread_track(index, thread), "");
        pf::ThreadDescriptor& thread_descriptor = *thread_track_descriptor.mutable_thread();
        // Tids are unique on one host, so a host's threads can share its process.
        thread_descriptor.set_pid(grouped ? kHostPidBase + static_cast<int32_t>(host_of[index]) : pid);
        thread_descriptor.set_tid(info.tid());
        thread_descriptor.set_thread_name(grouped ? info.name() + " (" + name + ")" : info.name());
        describe_track(std::move(thread_track_descriptor), tables_.start_unix_ns);
      }
    }
  }

  // The other tracks, when their first event comes.
  void describe_on_first_use(uint64_t track, uint64_t unix_ns) {
    if (described_.contains(track)) return;
    const auto kind = static_cast<TrackKind>(track >> 56);
    const auto process = static_cast<uint32_t>((track >> 32) & 0xffffff);
    const auto number = static_cast<uint32_t>(track);
    switch (kind) {
      case TrackKind::kThread:
        describe_track(child(process, track, "thread " + std::to_string(number)), unix_ns);
        break;
      case TrackKind::kScheduler: describe_track(child(process, track, "scheduler"), unix_ns); break;
      case TrackKind::kCounter: {
        static constexpr std::pair<const char*, const char*> kCounters[] = {{"KV cache usage (%)", "%"},
                                                                            {"batch tokens", "tokens"},
                                                                            {"running requests", "requests"},
                                                                            {"waiting requests", "requests"}};
        pf::TrackDescriptor descriptor = child(process, track, kCounters[number].first);
        descriptor.mutable_counter()->set_unit_name(kCounters[number].second);
        describe_track(std::move(descriptor), unix_ns);
        break;
      }
      default: break;  // processes and threads are known; GPU lanes are described as they are made
    }
  }

  // The lane of a GPU stream for an execution from `begin` to `end`: the first that is free at its
  // start. Graph executions do not call one another, so nesting would misdraw them; and an
  // overlap on one stream is real data to show (executions queued on one stream run one after the
  // other, but the CUPTI timestamps of back-to-back ones can overlap by clock interpolation, and a
  // stream id may stand for more than one stream). The extra lanes are tracks of the same name
  // under the same process, which the Perfetto UI merges into one track with several rows.
  uint64_t lane_for(uint64_t stream, uint64_t begin, uint64_t end) {
    GpuStream& lanes = gpu_streams_[stream];
    size_t lane = 0;
    while (lane < lanes.ends.size() && lanes.ends[lane] > begin) ++lane;
    if (lane == lanes.ends.size()) {
      const auto process = static_cast<uint32_t>((stream >> 32) & 0xffffff);
      const uint64_t uuid = lane == 0 ? stream : track_uuid(TrackKind::kGpuLane, process, next_gpu_lane_++);
      lanes.ends.push_back(end);
      lanes.uuids.push_back(uuid);
      describe_track(child(process, uuid, "GPU stream " + std::to_string(static_cast<uint32_t>(stream))),
                     begin);
    }
    lanes.ends[lane] = end;
    return lanes.uuids[lane];
  }

  // Where a slice starting now on `track` ends: Perfetto closes the most recently opened slice on
  // an END (the END does not say which slice it ends), so slices must nest. On a thread they do,
  // as calls do, but for rounding: a thread's events come from two recorders (the Python hooks
  // and CUPTI), and a slice that outlives the one it started in by such a difference is cut at its
  // parent's end rather than closing the parent in its place.
  uint64_t nest_end(uint64_t track, uint64_t end) {
    std::vector<uint64_t>& open = open_[track];
    const uint64_t cut = open.empty() ? end : std::min(end, open.back());
    open.push_back(cut);
    ends_.push({cut, track});
    return cut;
  }

  // Writes the ENDs due by `unix_ns`. An END comes before a BEGIN at the same time, so
  // back-to-back slices are siblings.
  void end_slices(uint64_t unix_ns) {
    while (!ends_.empty() && ends_.top().first <= unix_ns) {
      const auto [end, track] = ends_.top();
      ends_.pop();
      open_[track].pop_back();
      start_packet(end, track).set_type(pf::TrackEvent::TYPE_SLICE_END);
      finish_packet();
    }
  }

  pf::TrackEvent& start_packet(uint64_t unix_ns, uint64_t track) {
    packet_.Clear();
    packet_.set_timestamp(unix_ns);
    packet_.set_trusted_packet_sequence_id(kEventSequence);
    if (events_done_ == 0) packet_.set_sequence_flags(kSeqIncrementalStateCleared);
    pf::TrackEvent& event = *packet_.mutable_track_event();
    event.set_track_uuid(track);
    return event;
  }

  void finish_packet() {
    file_.write(packet_);
    if ((++events_done_ & 0xffff) == 0 && progress_) progress_(events_done_, total_events_);
  }

  void write_event(uint64_t unix_ns, const Item& item, std::span<const std::byte> described) {
    end_slices(unix_ns);
    uint64_t track = item.track;
    if (static_cast<TrackKind>(track >> 56) == TrackKind::kGpuStream)
      track = lane_for(track, unix_ns, item.end);
    describe_on_first_use(track, unix_ns);
    if (item.op == Op::kBegin) nest_end(track, item.end);
    pf::TrackEvent& event = start_packet(unix_ns, track);
    if (!event.ParseFromArray(described.data(), static_cast<int>(described.size())))
      throw std::runtime_error("a sorted trace event no longer parses: the sort's temporary file is damaged");
    event.set_track_uuid(track);  // the parse cleared it
    switch (item.op) {
      case Op::kBegin: event.set_type(pf::TrackEvent::TYPE_SLICE_BEGIN); break;
      case Op::kInstant: event.set_type(pf::TrackEvent::TYPE_INSTANT); break;
      case Op::kCounter: event.set_type(pf::TrackEvent::TYPE_COUNTER); break;
    }
    finish_packet();
  }

  static void describe(const SchedulerStep& step, pf::TrackEvent& out) {
    out.Clear();
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
  }
  static void describe(const ForwardPass& pass, pf::TrackEvent& out) {
    out.Clear();
    out.set_name("forward step " + std::to_string(pass.step()));
    out.add_categories("vllm");
    annotate_text(out, "phase", phase_name(pass.phase()));
    annotate_uint(out, "batch_size", pass.batch_size());
    annotate_uint(out, "num_tokens", pass.num_tokens());
    if (pass.has_gpu_duration_ns()) annotate_double(out, "gpu_time_ms", rounded_ms(pass.gpu_duration_ns()));
  }
  static void describe(const CpuOperation& op, pf::TrackEvent& out) {
    out.Clear();
    out.set_name(op.operation());
    out.add_categories("vllm");
    if (op.step() != 0) annotate_uint(out, "step", op.step());
    if (!op.context().empty()) annotate_text(out, "context", op.context());
  }
  static void describe(const GraphCapture& capture, pf::TrackEvent& out) {
    out.Clear();
    out.set_name(capture.has_context() ? "capture " + descriptor_name(capture.context())
                                       : "capture graph " + std::to_string(capture.graph_id()));
    out.add_categories("cuda");
    annotate_uint(out, "graph_id", capture.graph_id());
    annotate_uint(out, "stream_id", capture.stream_id());
    annotate_uint(out, "node_count", capture.node_count());
    annotate_text(out, "status", capture.status() == GraphCapture::FAILED ? "failed" : "ok");
    if (!capture.context().wrapper().empty()) annotate_text(out, "wrapper", capture.context().wrapper());
  }
  static void describe(const EncoderTiming& timing, pf::TrackEvent& out) {
    out.Clear();
    out.set_name(timing.component());
    out.add_categories("vllm");
    if (timing.step() != 0) annotate_uint(out, "step", timing.step());
    if (!timing.context().empty()) annotate_text(out, "context", timing.context());
    if (timing.has_gpu_duration_ns())
      annotate_double(out, "gpu_time_ms", rounded_ms(timing.gpu_duration_ns()));
  }
  static void describe(const MoeLayerTiming& timing, pf::TrackEvent& out) {
    out.Clear();
    out.set_name("moe layer " + std::to_string(timing.layer()));
    out.add_categories("vllm");
    annotate_uint(out, "num_tokens", timing.num_tokens());
    if (timing.has_gpu_duration_ns())
      annotate_double(out, "gpu_time_ms", rounded_ms(timing.gpu_duration_ns()));
  }
  static void describe(const Preemption& preemption, pf::TrackEvent& out) {
    out.Clear();
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
  // `flow`: 0 for a launch without a GPU execution.
  static void describe_launch(const ReplayRow& replay, uint64_t flow, pf::TrackEvent& out) {
    out.Clear();
    out.set_name("cudaGraphLaunch");
    out.add_categories("cuda");
    annotate_uint(out, "exec_id", replay.exec_id);
    annotate_uint(out, "stream_id", replay.stream_id);
    if (flow != 0) out.add_flow_ids(flow);
  }
  void describe_gpu(const ReplayRow& replay, uint64_t flow, pf::TrackEvent& out) const {
    out.Clear();
    out.set_name(gpu_slice_name(replay));
    out.add_categories("cuda");
    annotate_uint(out, "exec_id", replay.exec_id);
    annotate_int(out, "launch_to_gpu_start_ns", replay.gpu_offset_ns);
    out.add_terminating_flow_ids(flow);
  }

  // The graph's batch descriptor, from the capture that labelled it.
  [[nodiscard]] std::string gpu_slice_name(const ReplayRow& replay) const {
    const auto origin = origins_.find({replay.process, replay.exec_id});
    if (origin != origins_.end() && origin->second.capture != nullptr &&
        origin->second.capture->has_context())
      return descriptor_name(origin->second.capture->context());
    return "graph exec " + std::to_string(replay.exec_id);
  }

  static constexpr uint32_t kTrackSequence = 1;
  static constexpr uint32_t kEventSequence = 2;

  SessionStream& session_;
  const SessionTables& tables_;
  PacketFile file_;
  // A budget of its own: filling the sink never spills a session sink while it is drained.
  SortMemory memory_;
  SortedSink<TraceKey> events_;
  const TraceProgress progress_;
  const std::map<Key, ExecOrigin> origins_;
  std::string payload_;
  std::set<uint64_t> described_;
  std::map<uint64_t, std::vector<uint64_t>> open_;  // by track: the ends of its open slices
  // The ENDs not yet written, earliest first: (time, track).
  std::priority_queue<std::pair<uint64_t, uint64_t>, std::vector<std::pair<uint64_t, uint64_t>>,
                      std::greater<>>
      ends_;
  struct GpuStream {
    std::vector<uint64_t> ends;   // by lane: where its last execution ends
    std::vector<uint64_t> uuids;  // by lane
  };
  std::map<uint64_t, GpuStream> gpu_streams_;  // by the stream's first lane
  uint32_t next_gpu_lane_ = 0;
  pf::TracePacket packet_;
  TraceSummary summary_;
  uint64_t events_done_ = 0;
  uint64_t total_events_ = 0;  // known once every row is in the sink
};

}  // namespace

TraceSummary write_perfetto_trace(SessionStream& session, const std::string& path,
                                  const TraceProgress& progress) {
  return TraceBuilder(session, path, progress).build();
}

}  // namespace profilemate::exporter
