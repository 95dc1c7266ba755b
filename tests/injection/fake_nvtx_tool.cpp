// A fake NVTX tool: what nsys's libToolsInjection64.so is to NVTX3, for tests without nsys. NVTX3
// (header-only, inside each library that emits ranges) reads NVTX_INJECTION64_PATH at its first
// call, dlopens the library named there and calls its InitializeInjectionNvtx2 with the export
// table getter; the tool fills the slots of the calls it handles, NVTX3 makes the rest no-ops.
//
// This one logs, to the file named by FAKE_NVTX_LOG, every domain creation, range start and end,
// and push and pop, one tab-separated line per event, written with one write(2) at once (so a
// killed process loses nothing, and lines of several processes appending do not interleave):
//
//   pid  tid  event  domain  id  payload  message
//
// event: domain_create, range_start, range_end, push, pop. domain: the domain's name, "(default)"
// for the calls without a domain. id: the range id (start, end) or the nesting level (push, pop).
// Missing fields are "-".
#include <fcntl.h>
#include <nvtx3/nvToolsExt.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <string>

namespace {

int g_log = -1;
std::atomic<uint64_t> g_next_range{1};

// What our handles point to; NVTX treats them as opaque.
struct Domain {
  std::string name;
};
struct RegisteredString {
  std::string text;
};

const char* domain_name(nvtxDomainHandle_t domain) {
  return domain == nullptr ? "(default)" : reinterpret_cast<const Domain*>(domain)->name.c_str();
}

std::string message_of(const nvtxEventAttributes_t* attributes) {
  if (attributes == nullptr) return "-";
  switch (attributes->messageType) {
    case NVTX_MESSAGE_TYPE_ASCII:
      return attributes->message.ascii != nullptr ? attributes->message.ascii : "";
    case NVTX_MESSAGE_TYPE_REGISTERED:
      return reinterpret_cast<const RegisteredString*>(attributes->message.registered)->text;
    default: return "-";  // unicode or none: not used by the code under test
  }
}

std::string payload_of(const nvtxEventAttributes_t* attributes) {
  if (attributes == nullptr) return "-";
  switch (attributes->payloadType) {
    case NVTX_PAYLOAD_TYPE_UNSIGNED_INT64: return std::to_string(attributes->payload.ullValue);
    case NVTX_PAYLOAD_TYPE_INT64: return std::to_string(attributes->payload.llValue);
    case NVTX_PAYLOAD_TYPE_UNSIGNED_INT32: return std::to_string(attributes->payload.uiValue);
    case NVTX_PAYLOAD_TYPE_INT32: return std::to_string(attributes->payload.iValue);
    default: return "-";
  }
}

void log_event(const char* event, const char* domain, const std::string& id, const std::string& payload,
               const std::string& message) {
  if (g_log < 0) return;
  std::string line = std::to_string(getpid()) + '\t' + std::to_string(syscall(SYS_gettid)) + '\t' + event +
                     '\t' + domain + '\t' + id + '\t' + payload + '\t' + message + '\n';
  // One write per line on an O_APPEND descriptor: whole lines, in order, whatever the processes.
  const ssize_t written = write(g_log, line.data(), line.size());
  (void)written;
}

// The nesting level of push/pop ranges, per thread and domain, as NVTX defines the return values.
int& depth(nvtxDomainHandle_t domain) {
  thread_local std::map<nvtxDomainHandle_t, int> levels;
  return levels[domain];
}

// Domain calls (NVTX_CB_MODULE_CORE2).
nvtxDomainHandle_t NVTX_API domain_create(const char* name) {
  auto* domain = new Domain{name != nullptr ? name : ""};  // lives as long as the process, as in NVTX
  log_event("domain_create", domain->name.c_str(), "-", "-", "-");
  return reinterpret_cast<nvtxDomainHandle_t>(domain);
}

nvtxStringHandle_t NVTX_API domain_register_string(nvtxDomainHandle_t, const char* text) {
  return reinterpret_cast<nvtxStringHandle_t>(new RegisteredString{text != nullptr ? text : ""});
}

nvtxRangeId_t NVTX_API domain_range_start(nvtxDomainHandle_t domain,
                                          const nvtxEventAttributes_t* attributes) {
  const nvtxRangeId_t id = g_next_range.fetch_add(1);
  log_event("range_start", domain_name(domain), std::to_string(id), payload_of(attributes),
            message_of(attributes));
  return id;
}

void NVTX_API domain_range_end(nvtxDomainHandle_t domain, nvtxRangeId_t id) {
  log_event("range_end", domain_name(domain), std::to_string(id), "-", "-");
}

int NVTX_API domain_range_push(nvtxDomainHandle_t domain, const nvtxEventAttributes_t* attributes) {
  const int level = depth(domain)++;
  log_event("push", domain_name(domain), std::to_string(level), payload_of(attributes),
            message_of(attributes));
  return level;
}

int NVTX_API domain_range_pop(nvtxDomainHandle_t domain) {
  int& open = depth(domain);
  const int level = open > 0 ? --open : -1;  // a pop without a push: NVTX's "negative" answer
  log_event("pop", domain_name(domain), std::to_string(level), "-", "-");
  return level;
}

// The same without a domain (NVTX_CB_MODULE_CORE): what other code in the process may call.
nvtxRangeId_t NVTX_API range_start_ex(const nvtxEventAttributes_t* attributes) {
  return domain_range_start(nullptr, attributes);
}
nvtxRangeId_t NVTX_API range_start_a(const char* message) {
  const nvtxRangeId_t id = g_next_range.fetch_add(1);
  log_event("range_start", "(default)", std::to_string(id), "-", message != nullptr ? message : "");
  return id;
}
void NVTX_API range_end(nvtxRangeId_t id) {
  domain_range_end(nullptr, id);
}
int NVTX_API range_push_ex(const nvtxEventAttributes_t* attributes) {
  return domain_range_push(nullptr, attributes);
}
int NVTX_API range_push_a(const char* message) {
  const int level = depth(nullptr)++;
  log_event("push", "(default)", std::to_string(level), "-", message != nullptr ? message : "");
  return level;
}
int NVTX_API range_pop() {
  return domain_range_pop(nullptr);
}

// Puts `function` into slot `id` of one module's table; false when NVTX has no such slot. The
// table holds pointers to NVTX's function pointers, slot 0 unused, `size` (its last) a null guard.
template <typename Function>
bool install(NvtxFunctionTable table, unsigned int size, unsigned int id, Function function) {
  if (table == nullptr || id == 0 || id >= size || table[id] == nullptr) return false;
  *table[id] = reinterpret_cast<NvtxFunctionPointer>(function);
  return true;
}

}  // namespace

// NVTX3 calls this once per library that emits NVTX (each has its own private NVTX state), from
// that library's first NVTX call. Nonzero: attached. Zero makes every NVTX call a no-op.
extern "C" __attribute__((visibility("default"))) int NVTX_API
InitializeInjectionNvtx2(NvtxGetExportTableFunc_t get_export_table) {
  if (g_log < 0) {
    const char* path = std::getenv("FAKE_NVTX_LOG");
    if (path == nullptr) return 0;
    g_log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (g_log < 0) return 0;
  }
  const auto* callbacks = static_cast<const NvtxExportTableCallbacks*>(get_export_table(NVTX_ETID_CALLBACKS));
  if (callbacks == nullptr || callbacks->struct_size < sizeof(NvtxExportTableCallbacks)) return 0;

  NvtxFunctionTable core = nullptr;
  unsigned int core_size = 0;
  NvtxFunctionTable core2 = nullptr;
  unsigned int core2_size = 0;
  if (callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE, &core, &core_size) == 0 ||
      callbacks->GetModuleFunctionTable(NVTX_CB_MODULE_CORE2, &core2, &core2_size) == 0) {
    return 0;
  }
  bool ok = install(core, core_size, NVTX_CBID_CORE_RangeStartEx, &range_start_ex) &&
            install(core, core_size, NVTX_CBID_CORE_RangeStartA, &range_start_a) &&
            install(core, core_size, NVTX_CBID_CORE_RangeEnd, &range_end) &&
            install(core, core_size, NVTX_CBID_CORE_RangePushEx, &range_push_ex) &&
            install(core, core_size, NVTX_CBID_CORE_RangePushA, &range_push_a) &&
            install(core, core_size, NVTX_CBID_CORE_RangePop, &range_pop);
  ok = ok && install(core2, core2_size, NVTX_CBID_CORE2_DomainCreateA, &domain_create) &&
       install(core2, core2_size, NVTX_CBID_CORE2_DomainRegisterStringA, &domain_register_string) &&
       install(core2, core2_size, NVTX_CBID_CORE2_DomainRangeStartEx, &domain_range_start) &&
       install(core2, core2_size, NVTX_CBID_CORE2_DomainRangeEnd, &domain_range_end) &&
       install(core2, core2_size, NVTX_CBID_CORE2_DomainRangePushEx, &domain_range_push) &&
       install(core2, core2_size, NVTX_CBID_CORE2_DomainRangePop, &domain_range_pop);
  return ok ? 1 : 0;
}
