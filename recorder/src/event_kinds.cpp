#include "event_kinds.h"

#include <array>

#include "profilemate.npb.h"

namespace profilemate::recorder {
namespace {

#define PM_EVENT(field, type) \
  table[profilemate_Record_##field##_tag] = {profilemate_##type##_fields, sizeof(profilemate_##type)}

std::array<EventKind, kRecordFieldLimit> make_table() {
  std::array<EventKind, kRecordFieldLimit> table{};
  PM_EVENT(graph_replay, GraphReplay);
  PM_EVENT(scheduler_step, SchedulerStep);
  PM_EVENT(forward_pass, ForwardPass);
  PM_EVENT(kv_usage, KvUsage);
  PM_EVENT(cpu_operation, CpuOperation);
  PM_EVENT(moe_timing, MoeLayerTiming);
  PM_EVENT(kv_eviction, KvEviction);
  PM_EVENT(moe_expert_counts, MoeExpertCounts);
  PM_EVENT(graph_capture, GraphCapture);
  PM_EVENT(graph_instantiate, GraphInstantiate);
  PM_EVENT(graph_exec_event, GraphExecEvent);
  PM_EVENT(preemption, Preemption);
  PM_EVENT(encoder_timing, EncoderTiming);
  PM_EVENT(thread_info, ThreadInfo);
  PM_EVENT(dropped_records, DroppedRecords);
  PM_EVENT(process_info, ProcessInfo);
  PM_EVENT(patch_status, PatchStatus);
  PM_EVENT(notice, Notice);
  PM_EVENT(clock_sync, ClockSync);
  PM_EVENT(descriptor_replays, DescriptorReplays);
  PM_EVENT(graph_replay_gpu_time, GraphReplayGpuTime);
  PM_EVENT(gpu_record_stats, GpuRecordStats);
  PM_EVENT(header, Header);
  return table;
}

#undef PM_EVENT

const std::array<EventKind, kRecordFieldLimit> kTable = make_table();
const EventKind kUnknown{};

}  // namespace

const EventKind& record_kind(uint32_t field_number) {
  return field_number < kRecordFieldLimit ? kTable[field_number] : kUnknown;
}

const EventKind& event_kind(uint32_t field_number) {
  return field_number == profilemate_Record_header_tag ? kUnknown : record_kind(field_number);
}

}  // namespace profilemate::recorder
