// libFuzzer target: the log reader must survive any bytes. Built as a libFuzzer binary with
// clang (-DPROFILEMATE_FUZZ=ON); also linked into a GoogleTest smoke test that replays
// deterministic mutations of the golden logs on every CI run.
#include <cstddef>
#include <cstdint>

#include "pmlog_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    profilemate::Header header;
    uint64_t visited = 0;
    const profilemate::reader::LogStats stats = profilemate::reader::read_log_bytes(
        data, size, "fuzz.pmlog", header, [&](profilemate::Record&) { ++visited; });
    // Every reported span lies inside the input, and the counts add up.
    for (const auto& span : stats.corrupt) {
      if (span.offset >= size || span.offset + span.skipped_bytes > size) __builtin_trap();
    }
    if (stats.torn_tail_bytes > size || visited + stats.unknown_records + 1 != stats.records)
      __builtin_trap();
  } catch (const profilemate::reader::ReadError&) {
    // Refusing a file is a valid answer.
  }
  return 0;
}
