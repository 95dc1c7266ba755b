// A session built by hand for the tests of the reports and the trace: the tables and the rows
// filled in directly, then handed over as the stream the reader would make of them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "session_data.h"

namespace profilemate::testing {

struct TestSession : exporter::SessionTables {
  std::vector<exporter::ReplayRow> replays;
  std::vector<exporter::Row<ForwardPass>> forward_passes;
  std::vector<exporter::Row<CpuOperation>> cpu_operations;
  std::vector<exporter::Row<SchedulerStep>> steps;
  std::vector<exporter::Row<KvUsage>> kv_usage;
};

// The stream and the memory bound its sinks share (none: nothing spills).
struct StreamedSession {
  exporter::SortMemory memory{"/tmp", SIZE_MAX};
  exporter::SessionStream stream{memory};
};

// `session`'s rows in the sinks of a stream; each row must be pushed in time order.
inline std::unique_ptr<StreamedSession> streamed(const TestSession& session) {
  auto streamed = std::make_unique<StreamedSession>();
  exporter::SessionStream& stream = streamed->stream;
  stream.tables = session;
  for (const exporter::ReplayRow& replay : session.replays) stream.replays.push(replay);
  const auto push = [](exporter::SortedSink<exporter::TimeKey>& sink, const auto& rows) {
    for (const auto& row : rows) {
      const std::string bytes = row.event.SerializeAsString();
      sink.push({row.unix_ns, row.process}, std::as_bytes(std::span(bytes.data(), bytes.size())));
    }
  };
  push(stream.forward_passes, session.forward_passes);
  push(stream.cpu_operations, session.cpu_operations);
  push(stream.steps, session.steps);
  push(stream.kv_usage, session.kv_usage);
  return streamed;
}

}  // namespace profilemate::testing
