"""Stand-in for vllm/compilation/cuda_graph.py, which imports the forward context as vLLM does."""

import vllm.forward_context  # noqa: F401
from standin_parts import CUDAGraphEntry, CUDAGraphWrapper

__all__ = ["CUDAGraphEntry", "CUDAGraphWrapper"]
