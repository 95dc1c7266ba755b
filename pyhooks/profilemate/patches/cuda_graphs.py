"""CUDAGraphWrapper.__call__: when a call is about to capture a CUDA graph, set vLLM's batch
descriptor and runtime mode as the thread's capture context, so that the injection library
labels the graph it sees captured. Replays (and eager calls) pass straight through.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget
from . import recording


def capture_label(wrapper: Any) -> tuple[str, int, int, bool, bool, str] | None:
    """The label of the graph this call will capture, or None when it replays or runs eagerly."""
    forward_context = sys.modules.get("vllm.forward_context")
    if forward_context is None or not forward_context.is_forward_context_available():
        return None
    context = forward_context.get_forward_context()
    mode = context.cudagraph_runtime_mode
    descriptor = context.batch_descriptor
    if descriptor is None or mode != wrapper.runtime_mode or getattr(mode, "name", "NONE") == "NONE":
        return None  # eager here (another wrapper of the nested pair handles this mode)
    entry = wrapper.concrete_cudagraph_entries.get(descriptor)
    if entry is not None and entry.cudagraph is not None:
        return None  # a replay
    num_reqs = descriptor.num_reqs
    return (mode.name, int(descriptor.num_tokens), -1 if num_reqs is None else int(num_reqs),
            bool(descriptor.uniform), bool(descriptor.has_lora), f"{type(wrapper).__name__}@{id(wrapper):x}")


def wrap_call(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            label = capture_label(self)
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failures += 1
            label = None
        if label is None:
            return original(self, *args, **kwargs)
        native.set_capture_context(*label)
        try:
            return original(self, *args, **kwargs)
        finally:
            native.clear_capture_context()

    return __call__


TARGETS = [
    PatchTarget(
        component="CUDAGraphWrapper",
        module="vllm.compilation.cuda_graph",
        qualname="CUDAGraphWrapper.__call__",
        wrap=wrap_call,
    ),
]
