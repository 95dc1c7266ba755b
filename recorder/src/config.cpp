#include "config.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "session_dir.h"

namespace profilemate::recorder {
namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? value : fallback;
}

// Reads an integer setting; out-of-range or malformed values keep the default, said once.
template <typename T>
T env_integer(const char* name, T fallback, T min, T max) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  std::string_view text(value);
  T parsed{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (error != std::errc{} || end != text.data() + text.size() || parsed < min || parsed > max) {
    std::fprintf(stderr,
                 "[ProfileMate] ignoring %s=\"%s\": expected an integer in [%llu, %llu]; using "
                 "%llu\n",
                 name, value, static_cast<unsigned long long>(min), static_cast<unsigned long long>(max),
                 static_cast<unsigned long long>(fallback));
    return fallback;
  }
  return parsed;
}

// Reads PROFILEMATE_COMPRESSION; anything but "zstd" or "none" keeps the default, said once.
bool env_compression(bool fallback) {
  const std::string value = env_or("PROFILEMATE_COMPRESSION", "");
  if (value.empty()) return fallback;
  if (value == "zstd" || value == "none") return value == "zstd";
  std::fprintf(stderr,
               "[ProfileMate] ignoring PROFILEMATE_COMPRESSION=\"%s\": expected zstd or none; using %s\n",
               value.c_str(), fallback ? "zstd" : "none");
  return fallback;
}

// VLLM_PROFILING_SESSION_ID names a directory under VLLM_PROFILING_DIR (is_session_id says which
// names can).
std::string env_session_id() {
  std::string value = env_or("VLLM_PROFILING_SESSION_ID", "");
  if (value.empty() || is_session_id(value)) return value;
  std::fprintf(stderr,
               "[ProfileMate] ignoring VLLM_PROFILING_SESSION_ID=\"%s\": expected a name of at most %zu "
               "letters, digits, '.', '_' or '-'\n",
               value.c_str(), kMaxSessionIdLength);
  return {};
}

}  // namespace

Config Config::from_environment() {
  Config config;
  config.session_dir = env_or("PROFILEMATE_SESSION_DIR", "");
  config.profiling_dir = env_or("VLLM_PROFILING_DIR", "/tmp/vllm_profiling");
  if (const std::string id = env_session_id(); config.session_dir.empty() && !id.empty()) {
    config.session_dir = config.profiling_dir + "/" + id;
    config.session_dir_setting = "VLLM_PROFILING_DIR/VLLM_PROFILING_SESSION_ID";
  }
  config.process_role = env_or("PROFILEMATE_PROCESS_ROLE", "");
  config.flush_interval_ms =
      env_integer<uint32_t>("PROFILEMATE_FLUSH_MS", config.flush_interval_ms, 10, 60000);
  config.budget_bytes = env_integer<uint64_t>("PROFILEMATE_BUFFER_MB", config.budget_bytes >> 20, 2, 4096)
                        << 20;
  config.max_threads = env_integer<uint32_t>("PROFILEMATE_MAX_THREADS", config.max_threads, 1, 1024);
  config.max_log_bytes =
      env_integer<uint64_t>("PROFILEMATE_MAX_LOG_MB", config.max_log_bytes >> 20, 0, 1ull << 30) << 20;
  config.compress = env_compression(config.compress);
  // A budget is a budget: with more threads than it has minimum buffers for, fewer threads get one
  // (the others' events are dropped and counted) rather than the memory growing past it.
  const uint64_t fits = config.threads_within_budget();
  if (fits < config.max_threads) {
    std::fprintf(
        stderr,
        "[ProfileMate] PROFILEMATE_MAX_THREADS=%u does not fit in PROFILEMATE_BUFFER_MB=%llu (a thread "
        "buffer takes at least %llu KiB, the writer %llu MiB): buffers for %llu threads; raise "
        "PROFILEMATE_BUFFER_MB to %llu for %u\n",
        config.max_threads, static_cast<unsigned long long>(config.budget_bytes >> 20),
        static_cast<unsigned long long>(kMinThreadBufferBytes >> 10),
        static_cast<unsigned long long>(kWriterBufferBytes >> 20), static_cast<unsigned long long>(fits),
        static_cast<unsigned long long>(
            (kWriterBufferBytes + config.max_threads * kMinThreadBufferBytes + (1ull << 20) - 1) >> 20),
        config.max_threads);
    config.max_threads = static_cast<uint32_t>(fits);
  }
  return config;
}

uint64_t Config::threads_within_budget() const {
  const uint64_t for_threads = budget_bytes > kWriterBufferBytes ? budget_bytes - kWriterBufferBytes : 0;
  return std::max<uint64_t>(for_threads / kMinThreadBufferBytes, 1);
}

uint64_t Config::thread_buffer_bytes() const {
  const uint64_t for_threads = budget_bytes > kWriterBufferBytes ? budget_bytes - kWriterBufferBytes : 0;
  const uint64_t each = std::bit_floor(for_threads / max_threads);
  return each < kMinThreadBufferBytes ? kMinThreadBufferBytes : each;
}

}  // namespace profilemate::recorder
