#include "export_session.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "atomic_output.h"
#include "metadata_json.h"
#include "session_data.h"
#include "session_dir.h"
#include "session_files.h"

namespace profilemate::exporter {
namespace {

std::vector<std::string> damage_warnings(const SessionTables& data) {
  std::vector<std::string> warnings;
  // What the recorder itself says went wrong (the log's size limit reached): the reader of the
  // CSV files should not have to find it in metadata.json.
  for (const Row<Notice>& row : data.notices) {
    const Notice& notice = row.event;
    if (notice.source() == "recorder" && notice.severity() >= Notice::DEGRADED)
      warnings.push_back(data.processes[row.process].stats.path + ": " + notice.message());
  }
  for (const Process& process : data.processes) {
    const reader::LogStats& stats = process.stats;
    for (const reader::CorruptSpan& span : stats.corrupt) {
      warnings.push_back(stats.path + ": corrupt record at byte offset " + std::to_string(span.offset) +
                         " (" + span.reason + "); skipped " + std::to_string(span.skipped_bytes) +
                         " bytes and went on with the next readable record");
    }
    if (stats.torn_tail_bytes > 0) {
      warnings.push_back(stats.path + ": the last record is incomplete (" +
                         std::to_string(stats.torn_tail_bytes) +
                         " bytes, the process was probably killed while writing); skipped");
    }
    if (stats.unknown_records > 0) {
      warnings.push_back(stats.path + ": " + std::to_string(stats.unknown_records) +
                         " records of kinds this profilemate does not know were skipped; a newer "
                         "profilemate reads them");
    }
    uint64_t dropped = 0;
    for (const auto& [key, count] : process.dropped) dropped += count;
    if (dropped > 0) {
      warnings.push_back(stats.path + ": the recorder dropped " + std::to_string(dropped) +
                         " events when its buffers were full (see dropped_records in metadata.json)");
    }
  }
  return warnings;
}

// A new output directory gets the session directory's mode (narrowed by the umask): what a private
// session holds (command lines in metadata.json) stays private. An existing one is left as it is.
// The path is walked as a session's is (recorder::open_dir): no link another user could have
// planted is followed on the way.
void create_output_dir(const std::string& output_dir, const std::string& session_dir) {
  struct stat session {};
  const mode_t mode = ::stat(session_dir.c_str(), &session) == 0 ? session.st_mode & 0777 : 0777;
  std::string error;
  if (!recorder::open_dir(
           output_dir, {.setting = "-o", .create_mode = mode, .owned = false, .own_link_at_end = true}, error)
           .valid()) {
    throw std::runtime_error("cannot create output directory " + output_dir + ": " + error);
  }
}

// Throws reader::ReadError unless every session directory of `source` holds logs; the first one.
std::string check_session_dirs(const RunSource& source) {
  const std::vector<std::string> dirs = source.session_dirs();
  for (const std::string& dir : dirs) reader::session_log_files(dir);
  return dirs.front();
}

// What every export reports about the session it read.
void describe_session(const SessionTables& data, ExportResult& result) {
  result.warnings = data.warnings;
  const std::vector<std::string> damage = damage_warnings(data);
  result.warnings.insert(result.warnings.end(), damage.begin(), damage.end());
  result.processes = data.processes.size();
  for (const Process& process : data.processes) result.records += process.stats.records;
}

}  // namespace

ExportResult export_session(const RunSource& source, const std::string& output_dir,
                            const ExportOptions& options) {
  // Checked before the output directory is made, so a mistyped session leaves nothing behind.
  const std::string first_dir = check_session_dirs(source);
  create_output_dir(output_dir, first_dir);
  SortMemory memory(output_dir, options.sort_memory_bytes);
  SessionStream session(source, memory);
  const SessionTables& data = session.tables;

  ExportResult result;
  result.output_dir = output_dir;
  if (options.format == TableFormat::kParquet) {
    // metadata.json stays the CSV export's: beside the tables of many sessions copied into one
    // tree, one per export would collide.
    result.files = write_parquet_files(session, output_dir);
    result.sort_runs_spilled = memory.runs_spilled();
    describe_session(data, result);
    AtomicOutput::wait_for_replaced_files();
    return result;
  }
  result.files = write_csv_files(session, output_dir);
  result.sort_runs_spilled = memory.runs_spilled();
  const std::string metadata = metadata_json(data, result.files);
  AtomicOutput file(output_dir + "/metadata.json");
  if (std::fwrite(metadata.data(), 1, metadata.size(), file.file()) != metadata.size()) file.fail();
  file.commit();
  result.files.push_back({"metadata.json", 1});
  describe_session(data, result);
  AtomicOutput::wait_for_replaced_files();
  return result;
}

ExportResult export_perfetto(const RunSource& source, const std::string& output_dir,
                             const TraceProgress& progress) {
  const std::string first_dir = check_session_dirs(source);
  create_output_dir(output_dir, first_dir);
  SortMemory memory(output_dir, kTraceSortMemoryBytes);
  SessionStream session(source, memory);

  ExportResult result;
  result.output_dir = output_dir;
  result.trace = write_perfetto_trace(session, output_dir + "/" + kTraceFileName, progress);
  result.files.push_back({kTraceFileName, result.trace.slices});
  describe_session(session.tables, result);
  AtomicOutput::wait_for_replaced_files();
  return result;
}

}  // namespace profilemate::exporter
