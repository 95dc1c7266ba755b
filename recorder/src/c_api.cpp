// The exported C ABI: thin forwarding to the process-wide Recorder.
#include "profilemate/recorder.h"
#include "recorder.h"
#include "text.h"

using profilemate::recorder::Recorder;

extern "C" {

int pm_start(void) {
  return Recorder::instance().start();
}
void pm_stop(void) {
  Recorder::instance().stop();
}
int pm_active(void) {
  return Recorder::instance().active() ? 1 : 0;
}
int pm_record(uint32_t kind, const void* event) {
  return Recorder::instance().record(kind, event);
}
int pm_set_thread_waits(int waits) {
  return Recorder::set_thread_waits(waits != 0) ? 1 : 0;
}
uint64_t pm_now(void) {
  return Recorder::instance().now();
}
uint64_t pm_log_time(uint64_t realtime_ns) {
  return Recorder::instance().log_time(realtime_ns);
}
uint32_t pm_thread(void) {
  return Recorder::instance().thread_index();
}
int pm_flush(uint32_t timeout_ms) {
  return Recorder::instance().flush(timeout_ms);
}
uint32_t pm_flush_interval_ms(void) {
  return Recorder::instance().flush_interval_ms();
}
const char* pm_session_dir(void) {
  return Recorder::instance().session_dir();
}
const char* pm_log_path(void) {
  return Recorder::instance().log_path();
}

namespace {
thread_local profilemate_CaptureContext t_capture_context;
thread_local bool t_has_capture_context = false;
}  // namespace

void pm_set_capture_context(const profilemate_CaptureContext* context) {
  t_has_capture_context = context != nullptr;
  if (context != nullptr) t_capture_context = *context;
}

int pm_get_capture_context(profilemate_CaptureContext* out) {
  if (!t_has_capture_context || out == nullptr) return 0;
  *out = t_capture_context;
  return 1;
}

void pm_copy_string(char* dst, size_t capacity, const char* src) {
  profilemate::recorder::copy_utf8(dst, capacity, src != nullptr ? src : "");
}

}  // extern "C"
