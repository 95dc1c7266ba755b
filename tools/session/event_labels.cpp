#include "event_labels.h"

#include <algorithm>

namespace profilemate::exporter {

std::string_view phase_name(Phase phase) {
  switch (phase) {
    case PREFILL: return "prefill";
    case DECODE: return "decode";
    case MIXED: return "mixed";
    case IDLE: return "idle";
    default: return "";
  }
}

Phase step_phase(const SchedulerStep& step) {
  if (step.num_seqs() == 0) return IDLE;
  if (step.num_prefill_seqs() > 0 && step.num_decode_seqs() > 0) return MIXED;
  return step.num_prefill_seqs() > 0 ? PREFILL : DECODE;
}

std::string descriptor_name(const CaptureContext& context) {
  std::string name = context.runtime_mode().empty() ? "?" : context.runtime_mode();
  name += " n=" + std::to_string(context.num_tokens());
  if (context.has_num_reqs()) name += " reqs=" + std::to_string(context.num_reqs());
  if (context.uniform()) name += " uniform";
  if (context.has_lora()) name += " lora";
  return name;
}

uint32_t tokens_found_in_cache(const Preemption& resumed) {
  return std::min(resumed.tokens_found_in_cache(), resumed.computed_tokens_lost());
}

std::string_view dropped_reason_name(int reason) {
  switch (reason) {
    case DroppedRecords::BUFFER_FULL: return "buffer_full";
    case DroppedRecords::NO_THREAD_BUFFER: return "no_thread_buffer";
    case DroppedRecords::CUPTI_ACTIVITY: return "cupti_activity";
    case DroppedRecords::WAIT_TIMEOUT: return "wait_timeout";
    case DroppedRecords::HOOK_FAILURE: return "hook_failure";
    default: return "unspecified";
  }
}

}  // namespace profilemate::exporter
