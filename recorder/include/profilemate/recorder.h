/* ProfileMate recorder: the C ABI that the injection library and the Python extension call.
 *
 * One recorder per process (this shared library is loaded once, whichever side loads it
 * first). Events are the nanopb structs generated from proto/profilemate.proto; `pm_record`
 * copies one into the calling thread's buffer and returns at once: a background writer thread
 * encodes and streams it to `<session>/process_<pid>.pmlog`. Nothing here allocates, locks or
 * makes a system call per event; when a buffer is full the event is dropped and counted (except
 * on ProfileMate's own threads, which wait: see pm_set_thread_waits).
 *
 * Timestamps in events are "log time": nanoseconds since this process's time base, a
 * CLOCK_REALTIME reading taken at start (`pm_now`, `pm_log_time`).
 */
#ifndef PROFILEMATE_RECORDER_H
#define PROFILEMATE_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "profilemate.npb.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PM_API __attribute__((visibility("default")))

/* Results of pm_start and pm_record. */
enum {
  PM_OK = 0,
  PM_DROPPED = 1,      /* buffer full or no buffer free: counted in the log */
  PM_INACTIVE = -1,    /* not started, stopped, or disabled by an earlier error */
  PM_BAD_KIND = -2,    /* not a recordable Record field number */
  PM_START_FAILED = -3 /* session directory or log unusable: reason printed on stderr */
};

/* Opens the session directory and this process's log and starts the writer. Idempotent; safe
 * from any thread. The session directory is PROFILEMATE_SESSION_DIR, else a new
 * session_<UTC time>_<random> under VLLM_PROFILING_DIR (default /tmp/vllm_profiling), which is
 * then exported as PROFILEMATE_SESSION_DIR so child processes join the same session. */
PM_API int pm_start(void);

/* Flushes everything, writes the closing records and closes the log. Later events are ignored.
 * Also runs at exit. */
PM_API void pm_stop(void);

/* Non-zero while recording. */
PM_API int pm_active(void);

/* Copies one event. `kind` is the event's field number in `profilemate.Record`
 * (e.g. profilemate_Record_graph_replay_tag) and `event` points to its nanopb struct. */
PM_API int pm_record(uint32_t kind, const void* event);

/* Declares whether the calling thread is one of ProfileMate's own, where waiting costs the
 * application nothing (CUPTI's buffer-completion callback, a flush thread, the final flush at
 * exit). On such a thread pm_record waits for the writer when the thread's buffer is full instead
 * of dropping the event, up to about a second per event; an event that still does not fit is
 * dropped, and the thread then drops without waiting until an event fits again, so a stalled
 * writer or disk costs one wait, not one per event (both counted with reason WAIT_TIMEOUT).
 * Never on an application thread. Thread-local, off by default; returns the previous setting. */
PM_API int pm_set_thread_waits(int waits);

/* Log time now, and a CLOCK_REALTIME (or CUPTI) timestamp converted to log time. */
PM_API uint64_t pm_now(void);
PM_API uint64_t pm_log_time(uint64_t realtime_ns);

/* The calling thread's index in this log (announced by a ThreadInfo record); 0 if none. */
PM_API uint32_t pm_thread(void);

/* Waits until everything recorded so far is in the file (at most timeout_ms). Returns PM_OK, or
 * PM_INACTIVE when not recording or the wait timed out. */
PM_API int pm_flush(uint32_t timeout_ms);

/* The interval within which records reach the file, in ms: PROFILEMATE_FLUSH_MS as the recorder
 * accepted it (10 to 60000, else the default), for every other part that flushes on its own (the
 * injection library's CUPTI buffers), so that the rule has one definition. */
PM_API uint32_t pm_flush_interval_ms(void);

/* The session directory and this process's log file; "" when not recording. */
PM_API const char* pm_session_dir(void);
PM_API const char* pm_log_path(void);

/* The capture context: vLLM's batch descriptor and runtime mode, set by the Python hooks on the
 * capturing thread just before a CUDA graph capture (NULL clears it). The injection library
 * attaches it to every graph captured on that thread while it is set. Thread-local. */
PM_API void pm_set_capture_context(const profilemate_CaptureContext* context);
/* Copies the calling thread's capture context into `out`; returns 1 if one is set, else 0. */
PM_API int pm_get_capture_context(profilemate_CaptureContext* out);

/* NVTX3 ranges in the "ProfileMate" domain, so that an nsys timeline shows vLLM's steps, forward
 * passes and graph captures next to the kernels. Almost free when no NVTX tool is attached; they
 * work whether or not the recorder is recording. Start/end ranges may end on another thread;
 * push/pop ranges nest per thread. `payload` is shown with the range (e.g. a token count). */
PM_API uint64_t pm_range_start(const char* message, uint64_t payload);
PM_API void pm_range_end(uint64_t range);
PM_API void pm_range_push(const char* message, uint64_t payload);
PM_API void pm_range_pop(void);

/* Copies a NUL-terminated string into a fixed nanopb char array, truncating. */
PM_API void pm_copy_string(char* dst, size_t capacity, const char* src);

#ifdef __cplusplus
}
#endif

#endif /* PROFILEMATE_RECORDER_H */
