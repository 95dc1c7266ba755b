// The CUDA graph API calls ProfileMate follows, decoded from CUPTI's callback ids and parameter
// structs into one shape. The only place that knows the runtime and driver params layouts.
#pragma once

#include <cupti.h>

#include <cstdint>

namespace profilemate::injection {

enum class GraphOp : uint8_t {
  kNone,
  kBeginCapture,
  kEndCapture,
  kInstantiate,
  kLaunch,
  kUpload,
  kExecUpdate,
  kExecDestroy
};

struct GraphCall {
  GraphOp op = GraphOp::kNone;
  CUstream stream = nullptr;
  CUgraph graph = nullptr;          // instantiate, exec update: the source graph
  CUgraph* graph_out = nullptr;     // end capture: read at EXIT
  CUgraphExec exec = nullptr;       // launch, upload, update, destroy
  CUgraphExec* exec_out = nullptr;  // instantiate: read at EXIT
  uint32_t capture_mode = 0;        // CUstreamCaptureMode
  uint64_t flags = 0;
  bool per_thread_stream = false;  // a _ptsz variant
};

// kNone for callbacks ProfileMate does not follow.
GraphCall decode_graph_call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* params);

// The callback ids to enable, per domain, ended by 0.
extern const CUpti_CallbackId kRuntimeGraphCallbacks[];
extern const CUpti_CallbackId kDriverGraphCallbacks[];

}  // namespace profilemate::injection
