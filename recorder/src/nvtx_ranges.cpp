// The pm_range_* C ABI: NVTX3 ranges in ProfileMate's own domain. NVTX3 is header-only; with no
// tool attached every call is a load of a null function pointer. PROFILEMATE_NVTX=0 turns them
// off (profilemate profile --trace without nvtx), for a tool attached for other reasons.
#include <nvtx3/nvToolsExt.h>

#include <cstdlib>

#include "profilemate/recorder.h"

namespace {

bool enabled() {
  static const bool on = [] {
    const char* value = std::getenv("PROFILEMATE_NVTX");
    return value == nullptr || value[0] != '0';
  }();
  return on;
}

nvtxDomainHandle_t domain() {
  static nvtxDomainHandle_t handle = nvtxDomainCreateA("ProfileMate");  // created once, thread-safely
  return handle;
}

nvtxEventAttributes_t attributes(const char* message, uint64_t payload) {
  nvtxEventAttributes_t attributes{};
  attributes.version = NVTX_VERSION;
  attributes.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attributes.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attributes.message.ascii = message != nullptr ? message : "";
  attributes.payloadType = NVTX_PAYLOAD_TYPE_UNSIGNED_INT64;
  attributes.payload.ullValue = payload;
  return attributes;
}

}  // namespace

extern "C" {

uint64_t pm_range_start(const char* message, uint64_t payload) {
  if (!enabled()) return 0;
  const nvtxEventAttributes_t a = attributes(message, payload);
  return nvtxDomainRangeStartEx(domain(), &a);
}

void pm_range_end(uint64_t range) {
  if (!enabled()) return;
  nvtxDomainRangeEnd(domain(), range);
}

void pm_range_push(const char* message, uint64_t payload) {
  if (!enabled()) return;
  const nvtxEventAttributes_t a = attributes(message, payload);
  nvtxDomainRangePushEx(domain(), &a);
}

void pm_range_pop(void) {
  if (!enabled()) return;
  nvtxDomainRangePop(domain());
}

}  // extern "C"
