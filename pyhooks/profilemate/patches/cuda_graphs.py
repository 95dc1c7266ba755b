"""CUDA graphs seen from Python, in both model runners.

- CUDAGraphWrapper.__call__ (V1 runner, and the pieces of piecewise graphs in both runners): a
  call about to capture sets vLLM's batch descriptor and runtime mode as the thread's capture
  context, so that the injection library labels the graph it sees captured; a replay is counted.
- The V2 runner's CudaGraphManager, whose FULL graphs bypass CUDAGraphWrapper: capture() labels
  each graph it captures, run_fullgraph() counts a replay.

Replays are counted per graph (a CUDAGraphWrapper entry, or a manager's descriptor) and written as
DescriptorReplays deltas at most once a second (from the model runner's hook) and at exit: the
replay count per descriptor when CUPTI is absent. GPU time needs CUPTI.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from typing import Any

from ..registry import PatchTarget
from . import recording

WRITE_INTERVAL_NS = 1_000_000_000

Label = tuple[str, int, int, bool, bool, str]  # what native.set_capture_context takes

# Keys are cheap to hash on the replay path: id() of vLLM's CUDAGraphEntry (kept alive in _keep,
# so that the id is not reused), or (id(manager), descriptor) for the V2 manager.
_replays: dict[Hashable, int] = {}
_written: dict[Hashable, int] = {}
_labels: dict[Hashable, Label] = {}
_keep: list[Any] = []
# When the next write is due: the model runner's hook compares with it inline, every step, and
# calls write_replay_counts() only then.
next_write_ns = [0]


def _owner_name(owner: Any) -> str:
    return f"{type(owner).__name__}@{id(owner):x}"


def _v1_label(wrapper: Any, mode: Any, descriptor: Any) -> Label:
    num_reqs = descriptor.num_reqs
    return (
        mode.name,
        int(descriptor.num_tokens),
        -1 if num_reqs is None else int(num_reqs),
        bool(descriptor.uniform),
        bool(descriptor.has_lora),
        _owner_name(wrapper),
    )


def _v2_label(manager: Any, desc: Any) -> Label:
    num_reqs = desc.num_reqs
    return (
        desc.cg_mode.name,
        int(desc.num_tokens),
        -1 if num_reqs is None else int(num_reqs),
        desc.uniform_token_count is not None,
        getattr(desc, "num_active_loras", 0) > 0,
        _owner_name(manager),
    )


def _first_replay(key: Hashable, label: Label, keep: Any) -> None:
    _labels[key] = label
    _keep.append(keep)
    _replays[key] = 1


def write_replay_counts(now_ns: int) -> None:
    """Writes the replays counted since the last write; the caller checks next_write_ns (a step's
    end) or writes the rest (the exit)."""
    next_write_ns[0] = now_ns + WRITE_INTERVAL_NS
    native = recording.native()
    for key, count in _replays.items():
        delta = count - _written.get(key, 0)
        if delta:
            native.descriptor_replays(now_ns, _labels[key], delta)
            _written[key] = count


def _graph_mode(wrapper: Any) -> tuple[Any, Any] | None:
    """(runtime mode, batch descriptor) when this wrapper captures or replays; None when eager."""
    forward_context = sys.modules.get("vllm.forward_context")
    if forward_context is None or not forward_context.is_forward_context_available():
        return None
    context = forward_context.get_forward_context()
    mode = context.cudagraph_runtime_mode
    descriptor = context.batch_descriptor
    if descriptor is None or mode != wrapper.runtime_mode or getattr(mode, "name", "NONE") == "NONE":
        return None  # eager here (another wrapper of the nested pair handles this mode)
    return mode, descriptor


def capture_label(wrapper: Any) -> Label | None:
    """The label of the graph this call will capture; None when it replays (counted) or runs eagerly."""
    found = _graph_mode(wrapper)
    if found is None:
        return None
    mode, descriptor = found
    entry = wrapper.concrete_cudagraph_entries.get(descriptor)
    if entry is not None and entry.cudagraph is not None:
        key = id(entry)
        if key in _replays:
            _replays[key] += 1
        else:
            _first_replay(key, _v1_label(wrapper, mode, descriptor), entry)
        return None
    return _v1_label(wrapper, mode, descriptor)


def _starting(native: Any) -> None:
    recording.on_exit(lambda: write_replay_counts(native.now()))


def wrap_call(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()
    _starting(native)

    # (self, ...) as one tuple, passed on as it came: naming self would copy the arguments.
    def __call__(*args: Any, **kwargs: Any) -> Any:
        try:
            label = capture_label(args[0])
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failed()
            label = None
        if label is None:
            return original(*args, **kwargs)
        native.set_capture_context(*label)
        try:
            return original(*args, **kwargs)
        finally:
            native.clear_capture_context()

    return __call__


def wrap_manager_capture(original: Callable[..., Any]) -> Callable[..., Any]:
    """capture(create_forward_fn, ...) calls create_forward_fn(desc, ...) right before capturing
    the graph of desc: the label is set there, and cleared when capture() returns."""
    native = recording.native()

    def capture(self: Any, create_forward_fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def labelled(desc: Any, *fn_args: Any, **fn_kwargs: Any) -> Any:
            try:
                native.set_capture_context(*_v2_label(self, desc))
            except Exception:  # noqa: BLE001
                recording.failed()
            return create_forward_fn(desc, *fn_args, **fn_kwargs)

        try:
            return original(self, labelled, *args, **kwargs)
        finally:
            native.clear_capture_context()

    return capture


def wrap_run_fullgraph(original: Callable[..., Any]) -> Callable[..., Any]:
    _starting(recording.native())

    def run_fullgraph(self: Any, desc: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            key = (id(self), desc)
            if key in _replays:
                _replays[key] += 1
            else:
                _first_replay(key, _v2_label(self, desc), self)
        except Exception:  # noqa: BLE001
            recording.failed()
        return original(self, desc, *args, **kwargs)

    return run_fullgraph


_V2_MODULE = "vllm.v1.worker.gpu.cudagraph_utils"
TARGETS = [
    PatchTarget("CUDAGraphWrapper", "vllm.compilation.cuda_graph", "CUDAGraphWrapper.__call__", wrap_call),
    PatchTarget(
        "CudaGraphManager (V2)",
        _V2_MODULE,
        "CudaGraphManager.capture",
        wrap_manager_capture,
        required_params=("create_forward_fn",),
    ),
    PatchTarget(
        "CudaGraphManager (V2)",
        _V2_MODULE,
        "CudaGraphManager.run_fullgraph",
        wrap_run_fullgraph,
        required_params=("desc",),
    ),
]
