#include "graph_calls.h"

namespace profilemate::injection {

const CUpti_CallbackId kRuntimeGraphCallbacks[] = {
    CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCapture_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCapture_ptsz_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCaptureToGraph_v12030,
    CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCaptureToGraph_ptsz_v12030,
    CUPTI_RUNTIME_TRACE_CBID_cudaStreamEndCapture_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaStreamEndCapture_ptsz_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiate_v12000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiateWithFlags_v11040,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiateWithParams_v12000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiateWithParams_ptsz_v12000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphUpload_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphUpload_ptsz_v10000,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphExecUpdate_v10020,
    CUPTI_RUNTIME_TRACE_CBID_cudaGraphExecDestroy_v10000,
    0};

const CUpti_CallbackId kDriverGraphCallbacks[] = {CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture,
                                                  CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_ptsz,
                                                  CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2,
                                                  CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2_ptsz,
                                                  CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph,
                                                  CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph_ptsz,
                                                  CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture,
                                                  CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture_ptsz,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiate,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiate_v2,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiateWithFlags,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiateWithParams,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiateWithParams_ptsz,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch_ptsz,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphUpload,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphUpload_ptsz,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphExecUpdate,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphExecUpdate_v2,
                                                  CUPTI_DRIVER_TRACE_CBID_cuGraphExecDestroy,
                                                  0};

namespace {

template <typename Params>
const Params& as(const void* params) {
  return *static_cast<const Params*>(params);
}

GraphCall decode_runtime(CUpti_CallbackId cbid, const void* p) {
  GraphCall call;
  switch (cbid) {
    case CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCapture_v10000:
    case CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCapture_ptsz_v10000: {
      const auto& params = as<cudaStreamBeginCapture_v10000_params>(p);
      call = {GraphOp::kBeginCapture, params.stream};
      call.capture_mode = static_cast<uint32_t>(params.mode);
      call.per_thread_stream = cbid == CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCapture_ptsz_v10000;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCaptureToGraph_v12030:
    case CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCaptureToGraph_ptsz_v12030: {
      const auto& params = as<cudaStreamBeginCaptureToGraph_v12030_params>(p);
      call = {GraphOp::kBeginCapture, params.stream};
      call.capture_mode = static_cast<uint32_t>(params.mode);
      call.per_thread_stream = cbid == CUPTI_RUNTIME_TRACE_CBID_cudaStreamBeginCaptureToGraph_ptsz_v12030;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaStreamEndCapture_v10000:
    case CUPTI_RUNTIME_TRACE_CBID_cudaStreamEndCapture_ptsz_v10000: {
      const auto& params = as<cudaStreamEndCapture_v10000_params>(p);
      call = {GraphOp::kEndCapture, params.stream};
      call.graph_out = params.pGraph;
      call.per_thread_stream = cbid == CUPTI_RUNTIME_TRACE_CBID_cudaStreamEndCapture_ptsz_v10000;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiate_v12000: {
      const auto& params = as<cudaGraphInstantiate_v12000_params>(p);
      call.op = GraphOp::kInstantiate;
      call.graph = params.graph;
      call.exec_out = params.pGraphExec;
      call.flags = params.flags;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiateWithFlags_v11040: {
      const auto& params = as<cudaGraphInstantiateWithFlags_v11040_params>(p);
      call.op = GraphOp::kInstantiate;
      call.graph = params.graph;
      call.exec_out = params.pGraphExec;
      call.flags = params.flags;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiateWithParams_v12000:
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphInstantiateWithParams_ptsz_v12000: {
      const auto& params = as<cudaGraphInstantiateWithParams_v12000_params>(p);
      call.op = GraphOp::kInstantiate;
      call.graph = params.graph;
      call.exec_out = params.pGraphExec;
      if (params.instantiateParams != nullptr) call.flags = params.instantiateParams->flags;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_v10000:
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000: {
      const auto& params = as<cudaGraphLaunch_v10000_params>(p);  // the _ptsz layout is the same
      call = {GraphOp::kLaunch, params.stream};
      call.exec = params.graphExec;
      call.per_thread_stream = cbid == CUPTI_RUNTIME_TRACE_CBID_cudaGraphLaunch_ptsz_v10000;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphUpload_v10000:
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphUpload_ptsz_v10000: {
      const auto& params = as<cudaGraphUpload_v10000_params>(p);
      call = {GraphOp::kUpload, params.stream};
      call.exec = params.graphExec;
      call.per_thread_stream = cbid == CUPTI_RUNTIME_TRACE_CBID_cudaGraphUpload_ptsz_v10000;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphExecUpdate_v10020: {
      const auto& params = as<cudaGraphExecUpdate_v10020_params>(p);
      call.op = GraphOp::kExecUpdate;
      call.exec = params.hGraphExec;
      call.graph = params.hGraph;
      break;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaGraphExecDestroy_v10000:
      call.op = GraphOp::kExecDestroy;
      call.exec = as<cudaGraphExecDestroy_v10000_params>(p).graphExec;
      break;
    default: break;
  }
  return call;
}

GraphCall decode_driver(CUpti_CallbackId cbid, const void* p) {
  GraphCall call;
  switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_ptsz:
      call = {GraphOp::kBeginCapture, as<cuStreamBeginCapture_params>(p).hStream};
      call.per_thread_stream = cbid == CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_ptsz;
      break;
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2_ptsz: {
      const auto& params = as<cuStreamBeginCapture_v2_params>(p);
      call = {GraphOp::kBeginCapture, params.hStream};
      call.capture_mode = static_cast<uint32_t>(params.mode);
      call.per_thread_stream = cbid == CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2_ptsz;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph_ptsz: {
      const auto& params = as<cuStreamBeginCaptureToGraph_params>(p);
      call = {GraphOp::kBeginCapture, params.hStream};
      call.capture_mode = static_cast<uint32_t>(params.mode);
      call.per_thread_stream = cbid == CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph_ptsz;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture_ptsz: {
      const auto& params = as<cuStreamEndCapture_params>(p);
      call = {GraphOp::kEndCapture, params.hStream};
      call.graph_out = params.phGraph;
      call.per_thread_stream = cbid == CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture_ptsz;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiate:
    case CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiate_v2: {
      const auto& params = as<cuGraphInstantiate_v2_params>(p);  // the legacy layout is the same
      call.op = GraphOp::kInstantiate;
      call.graph = params.hGraph;
      call.exec_out = params.phGraphExec;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiateWithFlags: {
      const auto& params = as<cuGraphInstantiateWithFlags_params>(p);
      call.op = GraphOp::kInstantiate;
      call.graph = params.hGraph;
      call.exec_out = params.phGraphExec;
      call.flags = params.flags;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiateWithParams:
    case CUPTI_DRIVER_TRACE_CBID_cuGraphInstantiateWithParams_ptsz: {
      const auto& params = as<cuGraphInstantiateWithParams_params>(p);
      call.op = GraphOp::kInstantiate;
      call.graph = params.hGraph;
      call.exec_out = params.phGraphExec;
      if (params.instantiateParams != nullptr) call.flags = params.instantiateParams->flags;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch:
    case CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch_ptsz: {
      const auto& params = as<cuGraphLaunch_params>(p);  // _ptsz names its first field hGraphExec
      call = {GraphOp::kLaunch, params.hStream};
      call.exec = params.hGraph;
      call.per_thread_stream = cbid == CUPTI_DRIVER_TRACE_CBID_cuGraphLaunch_ptsz;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuGraphUpload:
    case CUPTI_DRIVER_TRACE_CBID_cuGraphUpload_ptsz: {
      const auto& params = as<cuGraphUpload_params>(p);
      call = {GraphOp::kUpload, params.hStream};
      call.exec = params.hGraph;
      call.per_thread_stream = cbid == CUPTI_DRIVER_TRACE_CBID_cuGraphUpload_ptsz;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuGraphExecUpdate:
    case CUPTI_DRIVER_TRACE_CBID_cuGraphExecUpdate_v2: {
      const auto& params = as<cuGraphExecUpdate_v2_params>(p);  // first two fields as in the legacy one
      call.op = GraphOp::kExecUpdate;
      call.exec = params.hGraphExec;
      call.graph = params.hGraph;
      break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuGraphExecDestroy:
      call.op = GraphOp::kExecDestroy;
      call.exec = as<cuGraphExecDestroy_params>(p).hGraphExec;
      break;
    default: break;
  }
  return call;
}

}  // namespace

GraphCall decode_graph_call(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void* params) {
  if (params == nullptr) return {};
  if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) return decode_runtime(cbid, params);
  if (domain == CUPTI_CB_DOMAIN_DRIVER_API) return decode_driver(cbid, params);
  return {};
}

}  // namespace profilemate::injection
