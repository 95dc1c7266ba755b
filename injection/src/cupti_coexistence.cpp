#include "cupti_coexistence.h"

namespace profilemate::injection {

bool cupti_clock_is_realtime(uint64_t realtime_before_ns, uint64_t cupti_ns, uint64_t realtime_after_ns) {
  return cupti_ns + kCuptiClockToleranceNs >= realtime_before_ns &&
         cupti_ns <= realtime_after_ns + kCuptiClockToleranceNs;
}

bool gpu_times_in_session(uint64_t start_log_ns, uint64_t end_log_ns) {
  return start_log_ns > 0 && start_log_ns <= end_log_ns;
}

bool BufferTakeoverWatch::taken_over(uint64_t handovers, uint64_t expired, size_t lent) {
  if (handovers != last_handovers_) {
    last_handovers_ = handovers;
    expired_at_last_handover_ = expired;
  }
  expired_since_ = expired - expired_at_last_handover_;
  return expired_since_ > (lent + 1) * static_cast<uint64_t>(records_per_buffer_);
}

}  // namespace profilemate::injection
