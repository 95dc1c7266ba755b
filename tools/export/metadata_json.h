// metadata.json: the session, each process (with what was lost and why), the patches, the
// notices and the files written. Deterministic for a given session, so it can be diff-tested.
#pragma once

#include <string>
#include <vector>

#include "csv_files.h"
#include "session_data.h"

namespace profilemate::exporter {

std::string metadata_json(const SessionTables& data, const std::vector<OutputFile>& files);

}  // namespace profilemate::exporter
