// How events are named in every output (CSV files, stats reports, the Perfetto trace), so that a
// phase or a batch descriptor reads the same everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "profilemate.pb.h"

namespace profilemate::exporter {

// "prefill", "decode", "mixed", "idle"; "" when unspecified.
std::string_view phase_name(Phase phase);

// The phase of a scheduler step, from its prefill/decode split.
Phase step_phase(const SchedulerStep& step);

// A resumption's tokens found in the prefix cache, at most the tokens its preemption freed.
uint32_t tokens_found_in_cache(const Preemption& resumed);

// "buffer_full", "no_thread_buffer", "cupti_activity", "wait_timeout", "hook_failure": why
// records were not recorded (DroppedRecords::Reason), as metadata.json and the reports name it.
std::string_view dropped_reason_name(int reason);

// "FULL n=8 reqs=8 uniform": a batch descriptor in one short label.
std::string descriptor_name(const CaptureContext& context);

}  // namespace profilemate::exporter
