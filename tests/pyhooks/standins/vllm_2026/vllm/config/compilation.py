"""Stand-in for vllm/config/compilation.py."""

from standin_parts import CUDAGraphMode

__all__ = ["CUDAGraphMode"]
