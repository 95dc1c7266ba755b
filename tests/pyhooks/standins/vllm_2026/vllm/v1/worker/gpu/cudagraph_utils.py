"""Stand-in for vllm/v1/worker/gpu/cudagraph_utils.py."""

from standin_runners import BatchExecutionDescriptor, CudaGraphManager

__all__ = ["BatchExecutionDescriptor", "CudaGraphManager"]
