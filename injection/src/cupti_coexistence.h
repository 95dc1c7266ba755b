// Another CUPTI client in the same process, as the torch profiler (Kineto) is when it starts:
// CUPTI's activity settings are process-wide (before CUDA 13.3), so it can change the clock of
// GPU records (cuptiActivityRegisterTimestampCallback, a TSC clock in Kineto) and take the
// activity buffers (cuptiActivityRegisterCallbacks: the last caller gets every buffer, ours
// included, and ours never come back). No CUPTI call says either happened; these checks infer it
// from what ProfileMate sees, so GPU times are dropped instead of written wrong. Plain logic, no
// CUPTI call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profilemate::injection {

// How far CUPTI's clock may stray from CLOCK_REALTIME, which it uses by default on Linux and
// which pm_log_time converts from, before its times cannot be placed: reading two clocks one
// after the other differs by far less, another clock (TSC, CLOCK_MONOTONIC) by far more.
constexpr uint64_t kCuptiClockToleranceNs = 10'000'000;

// A cuptiGetTimestamp reading taken between two CLOCK_REALTIME readings.
[[nodiscard]] bool cupti_clock_is_realtime(uint64_t realtime_before_ns, uint64_t cupti_ns,
                                           uint64_t realtime_after_ns);

// A GPU record's times converted to log time (0: before the session began): a record stamped in
// CUPTI's default clock starts after the session began (CUPTI was set up after it), and not after
// it ends; a TSC or CLOCK_MONOTONIC stamp lies decades before.
[[nodiscard]] bool gpu_times_in_session(uint64_t start_log_ns, uint64_t end_log_ns);

// Whether CUPTI still hands activity buffers to us. Every replay launched while GPU timing is on
// makes one GRAPH_TRACE record, and CUPTI can only put it in a buffer it requested from us. So when
// more replays were written without their GPU record (expired), since a buffer was last requested
// from us or handed back, than the buffers CUPTI holds of ours could take (with one buffer to
// spare for records still on the device), those records went into another client's buffers.
class BufferTakeoverWatch {
 public:
  explicit BufferTakeoverWatch(size_t records_per_buffer) : records_per_buffer_(records_per_buffer) {}

  // At each flush, with running totals: `handovers` buffers requested from us or handed back,
  // `expired` replays written without GPU time; `lent` buffers CUPTI holds now. True once
  // the buffers are found taken over.
  [[nodiscard]] bool taken_over(uint64_t handovers, uint64_t expired, size_t lent);

  // Replays expired since the last handover.
  [[nodiscard]] uint64_t expired_since_handover() const { return expired_since_; }

 private:
  size_t records_per_buffer_;
  uint64_t last_handovers_ = 0;
  uint64_t expired_at_last_handover_ = 0;
  uint64_t expired_since_ = 0;
};

}  // namespace profilemate::injection
