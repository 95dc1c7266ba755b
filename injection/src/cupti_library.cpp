#include "cupti_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <initializer_list>

namespace profilemate::injection {
namespace {

template <typename Fn>
bool bind(void* handle, const char* name, Fn& fn, std::string& missing) {
  fn = reinterpret_cast<Fn>(::dlsym(handle, name));
  if (fn == nullptr) missing += missing.empty() ? name : std::string(", ") + name;
  return fn != nullptr;
}

void* open_first(std::initializer_list<const char*> names, int flags, std::string& opened) {
  for (const char* name : names) {
    if (void* handle = ::dlopen(name, flags)) {
      opened = name;
      return handle;
    }
  }
  return nullptr;
}

}  // namespace

uint32_t CuptiLibrary::major() const {
  if (version >= 100000) return version / 10000;
  return version >= 19 ? 12 : 11;
}

std::string CuptiLibrary::result_text(CUptiResult result) const {
  const char* text = nullptr;
  if (GetResultString != nullptr && GetResultString(result, &text) == CUPTI_SUCCESS && text != nullptr) {
    return std::string(text) + " (" + std::to_string(static_cast<int>(result)) + ")";
  }
  return "CUPTI error " + std::to_string(static_cast<int>(result));
}

CuptiLoad load_cupti() {
  CuptiLoad load;
  CuptiLibrary& lib = load.library;
  void* handle = open_first({"libcupti.so.13", "libcupti.so.12"}, RTLD_NOW | RTLD_NOLOAD, lib.path);
  lib.reused = handle != nullptr;
  if (handle == nullptr) {
    const char* chosen = std::getenv("PROFILEMATE_CUPTI_LIBRARY");
    if (chosen != nullptr && *chosen != '\0') {
      handle = ::dlopen(chosen, RTLD_NOW | RTLD_LOCAL);
      lib.path = chosen;
      if (handle == nullptr) {
        const char* why = ::dlerror();
        load.error =
            std::string("cannot load PROFILEMATE_CUPTI_LIBRARY=") + chosen + ": " + (why ? why : "unknown");
        return load;
      }
    } else {
      handle = open_first({"libcupti.so.13", "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so.13",
                           "/usr/local/cuda/lib64/libcupti.so.13", "libcupti.so.12", "libcupti.so"},
                          RTLD_NOW | RTLD_LOCAL, lib.path);
      if (handle == nullptr) {
        load.error =
            "no CUPTI library found (libcupti.so.13 or .12); set PROFILEMATE_CUPTI_LIBRARY to its path";
        return load;
      }
    }
  }
  // Handles of a shared library stay valid for the life of the process; we never dlclose.
  std::string missing;
  bind(handle, "cuptiGetVersion", lib.GetVersion, missing);
  bind(handle, "cuptiGetResultString", lib.GetResultString, missing);
  bind(handle, "cuptiSubscribe", lib.Subscribe, missing);
  bind(handle, "cuptiUnsubscribe", lib.Unsubscribe, missing);
  bind(handle, "cuptiEnableCallback", lib.EnableCallback, missing);
  bind(handle, "cuptiGetGraphId", lib.GetGraphId, missing);
  bind(handle, "cuptiGetGraphExecId", lib.GetGraphExecId, missing);
  bind(handle, "cuptiGetStreamIdEx", lib.GetStreamIdEx, missing);
  bind(handle, "cuptiGetTimestamp", lib.GetTimestamp, missing);
  bind(handle, "cuptiActivityRegisterCallbacks", lib.ActivityRegisterCallbacks, missing);
  bind(handle, "cuptiActivityEnable", lib.ActivityEnable, missing);
  bind(handle, "cuptiActivityFlushAll", lib.ActivityFlushAll, missing);
  bind(handle, "cuptiActivityGetNextRecord", lib.ActivityGetNextRecord, missing);
  bind(handle, "cuptiActivityGetNumDroppedRecords", lib.ActivityGetNumDroppedRecords, missing);
  if (!missing.empty()) {
    load.error = lib.path + " lacks " + missing;
    return load;
  }
  // Optional: absent from CUPTI 12, and the driver's may be missing in odd setups.
  lib.Subscribe_v2 = reinterpret_cast<decltype(lib.Subscribe_v2)>(::dlsym(handle, "cuptiSubscribe_v2"));
  // The runtime may have loaded the driver privately (RTLD_LOCAL): ask it by name first.
  void* driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (driver == nullptr) driver = RTLD_DEFAULT;
  lib.GraphGetNodes = reinterpret_cast<decltype(lib.GraphGetNodes)>(::dlsym(driver, "cuGraphGetNodes"));
  lib.DriverGetVersion =
      reinterpret_cast<decltype(lib.DriverGetVersion)>(::dlsym(driver, "cuDriverGetVersion"));
  if (lib.GetVersion(&lib.version) != CUPTI_SUCCESS) lib.version = 0;
  load.loaded = true;
  return load;
}

}  // namespace profilemate::injection
