// CUPTI, bound at run time with dlopen/dlsym: nothing links libcupti, so the library loads in
// any process, reuses the CUPTI that torch already mapped, and tests can substitute a fake.
#pragma once

#include <cuda.h>
#include <cupti.h>

#include <cstdint>
#include <string>

namespace profilemate::injection {

struct CuptiLibrary {
  std::string path;      // what was loaded, for messages
  uint32_t version = 0;  // cuptiGetVersion
  bool reused = false;   // already mapped in the process (RTLD_NOLOAD)

  decltype(&cuptiGetVersion) GetVersion = nullptr;
  decltype(&cuptiGetResultString) GetResultString = nullptr;
  decltype(&cuptiSubscribe) Subscribe = nullptr;
  decltype(&cuptiSubscribe_v2) Subscribe_v2 = nullptr;  // absent before CUPTI 13
  decltype(&cuptiUnsubscribe) Unsubscribe = nullptr;
  decltype(&cuptiEnableCallback) EnableCallback = nullptr;
  decltype(&cuptiGetGraphId) GetGraphId = nullptr;
  decltype(&cuptiGetGraphExecId) GetGraphExecId = nullptr;
  decltype(&cuptiGetStreamIdEx) GetStreamIdEx = nullptr;
  decltype(&cuptiGetTimestamp) GetTimestamp = nullptr;
  decltype(&cuptiActivityRegisterCallbacks) ActivityRegisterCallbacks = nullptr;
  decltype(&cuptiActivityEnable) ActivityEnable = nullptr;
  decltype(&cuptiActivityFlushAll) ActivityFlushAll = nullptr;
  decltype(&cuptiActivityGetNextRecord) ActivityGetNextRecord = nullptr;
  decltype(&cuptiActivityGetNumDroppedRecords) ActivityGetNumDroppedRecords = nullptr;
  // From the driver, which is loaded when InitializeInjection runs.
  decltype(&cuGraphGetNodes) GraphGetNodes = nullptr;
  decltype(&cuDriverGetVersion) DriverGetVersion = nullptr;

  // CUPTI's major version: 13 from its API version 13xxyy, 12 for API versions 19 to 28.
  [[nodiscard]] uint32_t major() const;
  [[nodiscard]] std::string result_text(CUptiResult result) const;
};

struct CuptiLoad {
  bool loaded = false;
  CuptiLibrary library;
  std::string error;  // why not, for the degradation message
};

// Reuses a CUPTI already in the process (libcupti.so.13, then .12), else loads
// PROFILEMATE_CUPTI_LIBRARY when set (and nothing else: the user chose it), else the toolkit's.
CuptiLoad load_cupti();

}  // namespace profilemate::injection
