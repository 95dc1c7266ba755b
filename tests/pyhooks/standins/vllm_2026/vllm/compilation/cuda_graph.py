"""Stand-in for vllm/compilation/cuda_graph.py, which imports the forward context as vLLM does."""

from standin_parts import CUDAGraphEntry, CUDAGraphWrapper

import vllm.forward_context  # noqa: F401

__all__ = ["CUDAGraphEntry", "CUDAGraphWrapper"]
