// `profilemate export --type perfetto`: a session as one Perfetto trace (protobuf TracePackets
// carrying TrackEvents), to open at https://ui.perfetto.dev. docs/perfetto.md describes the
// tracks, slices, flows and counters.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "session_data.h"

namespace profilemate::exporter {

// What a trace holds, for the command's summary line.
struct TraceSummary {
  uint64_t tracks = 0;
  uint64_t slices = 0;
  uint64_t instants = 0;
  uint64_t counter_values = 0;
  uint64_t flows = 0;
  uint64_t bytes = 0;
};

// Called now and then with the track events written so far and the events in all (a slice is
// two: its BEGIN and its END); done == total last.
using TraceProgress = std::function<void(uint64_t done, uint64_t total)>;

// Memory the sort of the trace's events may hold before it spills sorted runs to temporary files
// in the trace's directory.
inline constexpr size_t kTraceSortMemoryBytes = size_t{32} << 20;

// Writes the trace to `path` (its directory must exist), draining the session's sinks: one pass,
// memory bounded by kTraceSortMemoryBytes and the session's own bound. Timestamps are Unix-epoch
// nanoseconds, as the logs record them. Throws std::runtime_error naming the file when it cannot
// be written, and leaves no partial file behind.
TraceSummary write_perfetto_trace(SessionStream& session, const std::string& path,
                                  const TraceProgress& progress = {});

}  // namespace profilemate::exporter
