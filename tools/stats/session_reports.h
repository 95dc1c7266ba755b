// The reports of `profilemate stats`: where the GPU time and the batch capacity went.
#pragma once

#include <string>
#include <vector>

#include "report_table.h"
#include "session_data.h"

namespace profilemate::stats {

// graphs, steps, kv, preemptions, moe, health: in this order, always all of them (a report with
// nothing to say has no rows).
std::vector<Table> session_reports(const exporter::SessionData& data);

// The report names, in order, with one line each: for --help and for checking --report.
const std::vector<std::pair<std::string, std::string>>& report_catalog();

}  // namespace profilemate::stats
