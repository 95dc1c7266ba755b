"""Stand-in for vllm/forward_context.py."""

from standin_parts import (
    BatchDescriptor,
    ForwardContext,
    get_forward_context,
    is_forward_context_available,
    set_forward_context,
)

__all__ = [
    "BatchDescriptor",
    "ForwardContext",
    "get_forward_context",
    "is_forward_context_available",
    "set_forward_context",
]
