// Recorder settings read from the environment once, at start.
#pragma once

#include <cstdint>
#include <string>

namespace profilemate::recorder {

struct Config {
  // PROFILEMATE_SESSION_DIR, else VLLM_PROFILING_DIR/VLLM_PROFILING_SESSION_ID; empty: make a new one
  std::string session_dir;
  std::string session_dir_setting = "PROFILEMATE_SESSION_DIR";  // what set session_dir, for messages
  std::string profiling_dir;  // VLLM_PROFILING_DIR, the parent of new sessions
  std::string process_role;   // PROFILEMATE_PROCESS_ROLE
  uint32_t flush_interval_ms = 200;
  uint64_t budget_bytes = 32ull << 20;
  uint32_t max_threads = 48;
  uint64_t max_log_bytes = 8192ull << 20;  // 0: no limit
  bool compress = true;                    // PROFILEMATE_COMPRESSION: zstd (true) or none

  // Invalid values are reported on stderr and replaced by the defaults.
  static Config from_environment();

  // Each thread buffer's size: a power of two, all of them plus the writer's buffer within the
  // budget (from_environment keeps max_threads within threads_within_budget()).
  [[nodiscard]] uint64_t thread_buffer_bytes() const;
  // How many thread buffers of the minimum size the budget holds, besides the writer's.
  [[nodiscard]] uint64_t threads_within_budget() const;
  static constexpr uint64_t kWriterBufferBytes = 1ull << 20;
  static constexpr uint64_t kMinThreadBufferBytes = 64ull << 10;
};

}  // namespace profilemate::recorder
