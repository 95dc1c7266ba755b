// InitializeInjection: called by the CUDA driver inside cuInit when CUDA_INJECTION64_PATH names
// this library. Decides whether to record, starts the recorder and the CUPTI session, installs the
// Python hooks in a Python process that lacks them, and always returns 1: a profiler must never
// stop the application from initialising CUDA.
#include <pthread.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "activation.h"
#include "cupti_session.h"
#include "notices.h"
#include "profilemate/recorder.h"
#include "python_bootstrap.h"

namespace {

std::mutex g_init_mutex;
pid_t g_initialized_pid = 0;

uint32_t env_u32(const char* name, uint32_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const unsigned long parsed = std::strtoul(value, &end, 10);
  return (*end == '\0' && parsed > 0 && parsed < 1'000'000) ? static_cast<uint32_t>(parsed) : fallback;
}

void stop_session_at_exit() {
  // Registered after the recorder's own exit handler, so it runs first: GPU records reach the
  // recorder before the recorder's final flush. A forked child has nothing of ours to stop.
  if (::getpid() == g_initialized_pid) profilemate::injection::CuptiSession::instance().stop();
}

void start_cupti() {
  using profilemate::injection::CuptiSession;
  const char* cupti_switch = std::getenv("PROFILEMATE_CUPTI");
  if (cupti_switch != nullptr && std::string(cupti_switch) == "0") {
    profilemate::injection::notice(
        profilemate_Notice_Severity_INFO,
        "CUDA graph tracing is off (PROFILEMATE_CUPTI=0); the Python hooks still record");
    return;
  }
  profilemate::injection::SessionOptions options;
  options.flush_interval_ms = pm_flush_interval_ms();  // the recorder's reading of PROFILEMATE_FLUSH_MS
  options.gpu_record_timeout_ms = env_u32("PROFILEMATE_GPU_RECORD_TIMEOUT_MS", options.gpu_record_timeout_ms);
  CuptiSession::instance().start(options);
  std::atexit(stop_session_at_exit);
  ::pthread_atfork(nullptr, nullptr, [] { CuptiSession::instance().abandon_after_fork(); });
}

// True when recording.
bool initialize() {
  const profilemate::injection::Activation activation =
      profilemate::injection::decide_activation(&std::getenv, profilemate::injection::own_command_line());
  if (!activation.on) return false;       // no thread, no file, no CUPTI call
  if (pm_start() != PM_OK) return false;  // the recorder said why on stderr
  start_cupti();
  return true;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int InitializeInjection(void) {
  {
    const std::lock_guard lock(g_init_mutex);
    const pid_t pid = ::getpid();
    if (g_initialized_pid == pid) return 1;  // once per process; a forked child starts over
    g_initialized_pid = pid;
    if (!initialize()) return 1;
  }
  // Outside the lock: Python code may run here and let other threads take the GIL, and one of
  // them waiting for this lock with the GIL held would deadlock us.
  profilemate::injection::bootstrap_python_hooks();
  return 1;
}
