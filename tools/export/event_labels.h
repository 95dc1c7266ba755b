// How events are named in every output (CSV files, stats reports, the Perfetto trace), so that a
// phase or a batch descriptor reads the same everywhere.
#pragma once

#include <string>
#include <string_view>

#include "profilemate.pb.h"

namespace profilemate::exporter {

// "prefill", "decode", "mixed", "idle"; "" when unspecified.
std::string_view phase_name(Phase phase);

// The phase of a scheduler step, from its prefill/decode split.
Phase step_phase(const SchedulerStep& step);

// "FULL n=8 reqs=8 uniform": a batch descriptor in one short label.
std::string descriptor_name(const CaptureContext& context);

// "buffer_full", "no_thread_buffer", "cupti_activity", "wait_timeout": why records were dropped.
std::string_view dropped_reason_name(int reason);

}  // namespace profilemate::exporter
