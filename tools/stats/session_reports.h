// The reports of `profilemate stats`: where the GPU time and the batch capacity went.
#pragma once

#include <string>
#include <vector>

#include "report_table.h"
#include "session_data.h"

namespace profilemate::stats {

// Memory the reports' sorts may hold (the session's rows, the distributions) before they spill
// sorted runs to temporary files: what bounds the memory of stats however long the session.
inline constexpr size_t kReportSortMemoryBytes = size_t{32} << 20;

// graphs, steps, kv, preemptions, moe, health: in this order, always all of them (a report with
// nothing to say has no rows). Drains the session's sinks; the reports' own sorts spill to
// `spill_dir`.
std::vector<Table> session_reports(exporter::SessionStream& session, const std::string& spill_dir);

// The reports of a run (one session directory, or one per host), read in one pass; sorts spill to
// the temporary directory (TMPDIR). `warnings` receives the session's (logs skipped, duplicates,
// clocks). Throws reader::ReadError as SessionStream does.
std::vector<Table> session_reports(const exporter::RunSource& source, std::vector<std::string>& warnings);

// The report names, in order, with one line each: for --help and for checking --report.
const std::vector<std::pair<std::string, std::string>>& report_catalog();

}  // namespace profilemate::stats
