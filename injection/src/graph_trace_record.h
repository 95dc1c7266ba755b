// The part of CUPTI's GRAPH_TRACE activity record that ProfileMate reads, valid for CUPTI 12 and
// 13: one library built against the CUDA 13 headers reads the records of whichever CUPTI torch
// loaded. CUPTI 13 and CUPTI 12.8 (API 26) write CUpti_ActivityGraphTrace2; earlier CUPTI 12
// releases wrote CUpti_ActivityGraphTrace (cupti_activity_deprecated.h). Both begin with kind,
// correlationId, start and end at the offsets below; the fields after them differ, so nothing
// past `end` is read, and records are walked with cuptiActivityGetNextRecord, which knows sizes.
#pragma once

#include <cupti.h>

#include <cstddef>
#include <cstdint>

namespace profilemate::injection {

struct GraphTraceTimes {
  uint32_t kind;  // CUPTI_ACTIVITY_KIND_GRAPH_TRACE (51 in both majors)
  uint32_t correlation_id;
  uint64_t start;  // ns in CUPTI's clock; 0 and 0: not timed
  uint64_t end;
};

// CUPTI 13's record, and the record CUPTI 12 used before GraphTrace2, as the CUDA 13 headers
// declare them; CUPTI 12.8's cupti_activity.h declares GraphTrace2 with the same fields in the
// same order.
template <typename Record>
constexpr bool starts_like_graph_trace_times() {
  return offsetof(Record, kind) == offsetof(GraphTraceTimes, kind) &&
         offsetof(Record, correlationId) == offsetof(GraphTraceTimes, correlation_id) &&
         offsetof(Record, start) == offsetof(GraphTraceTimes, start) &&
         offsetof(Record, end) == offsetof(GraphTraceTimes, end) &&
         sizeof(Record::kind) == sizeof(uint32_t) && sizeof(Record::start) == sizeof(uint64_t) &&
         sizeof(Record::end) == sizeof(uint64_t) && sizeof(Record) >= sizeof(GraphTraceTimes);
}
static_assert(starts_like_graph_trace_times<CUpti_ActivityGraphTrace2>());
static_assert(starts_like_graph_trace_times<CUpti_ActivityGraphTrace>());
static_assert(CUPTI_ACTIVITY_KIND_GRAPH_TRACE == 51);

// The CUPTI majors whose GRAPH_TRACE records this layout reads.
constexpr bool reads_graph_trace_of(uint32_t cupti_major) {
  return cupti_major == 12 || cupti_major == 13;
}

}  // namespace profilemate::injection
