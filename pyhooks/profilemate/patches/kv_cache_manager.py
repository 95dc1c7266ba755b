"""KVCacheManager: the CPU cost of allocation, prefix-cache lookup and free, failed allocations
(each one makes the scheduler preempt or wait), and the prefix cache's queries and hits counted
as vLLM counts them, without touching (or draining) vLLM's own statistics. A preempted request's
lookup and its successful allocation mark its resumption (preemption.looked_up, admitted).

A server calls these once per request per step, so the calls are summed over windows of at least
WINDOW_NS and written as one cpu_operations row per operation and window, at the end of the
scheduler step that closes the window."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..registry import PatchTarget, Wrapper
from . import preemption, recording
from .preemption import awaiting_resume

WINDOW_NS = 100_000_000


class _Calls:
    """Calls of one operation in the current window (fixed objects: the wrappers hold them)."""

    __slots__ = ("calls", "failed", "ns")

    def __init__(self) -> None:
        self.calls = self.ns = self.failed = 0  # failed: allocate_slots found no room


class _Window:
    __slots__ = ("first_step", "hits", "lookups", "preempted_lookups", "queries", "start_ns")

    def __init__(self) -> None:
        self.start_ns = -1
        self.first_step = 0
        self.lookups = 0  # requests that looked the prefix cache up
        self.queries = 0  # tokens looked up
        self.hits = 0  # tokens found
        self.preempted_lookups = 0  # by preempted requests: vLLM counts those apart too


_operations = {name: _Calls() for name in ("allocate_slots", "get_computed_blocks", "free")}
_window = _Window()
# When the window is due: the scheduler hook compares with it inline, every step, and calls
# flush() only then (or when no window has started yet).
next_flush_ns = [0]


def flush(native: ModuleType, step: int, now_ns: int, force: bool = False) -> None:
    """Writes the window's rows when it has lasted WINDOW_NS (or when forced, at exit)."""
    window = _window
    if window.start_ns < 0:
        window.start_ns, window.first_step = now_ns, step
        next_flush_ns[0] = now_ns + WINDOW_NS
    if not force and now_ns - window.start_ns < WINDOW_NS:
        return
    for name, calls in _operations.items():
        if not calls.calls:
            continue
        context = f"calls={calls.calls} steps={window.first_step}-{step}"
        if name == "allocate_slots":
            context += f" failed={calls.failed}"
        elif name == "get_computed_blocks" and (window.lookups or window.preempted_lookups):
            context += f" lookups={window.lookups} queried_tokens={window.queries} hit_tokens={window.hits}"
            if window.preempted_lookups:
                context += f" preempted_lookups={window.preempted_lookups}"
        native.cpu_operation(
            t_ns=window.start_ns, step=step, operation=f"kv_cache_manager.{name}", duration_ns=calls.ns, context=context
        )
        calls.__init__()
    window.__init__()
    window.start_ns, window.first_step = now_ns, step
    next_flush_ns[0] = now_ns + WINDOW_NS


def _timed(name: str) -> Wrapper:
    calls = _operations[name]
    counts_failures = name == "allocate_slots"  # None from allocate_slots means no room

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        native = recording.native()
        now = native.now
        recording.on_exit(lambda: flush(native, recording.step, now(), force=True))

        # (self, ...) as one tuple, passed on as it came: naming self would copy the arguments.
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = now()
            result = original(*args, **kwargs)
            try:
                calls.calls += 1
                calls.ns += now() - started
                if counts_failures:
                    if result is None:
                        calls.failed += 1
                    elif awaiting_resume:
                        preemption.admitted(args[1] if len(args) > 1 else kwargs["request"])
            except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
                recording.failed()
            return result

        return timed

    return wrap


_stats_method_patched = False  # record_prefix_cache_stats is wrapped: lookups are counted there


def _count_lookup(manager: Any, request: Any, num_hits: Callable[[], int]) -> None:
    """One prefix cache lookup, under vLLM's own condition minus its log_stats switch."""
    try:
        if manager.enable_caching and not getattr(request, "skip_reading_prefix_cache", False):
            window = _window
            if getattr(request, "num_preemptions", 0):
                window.preempted_lookups += 1
                return
            window.lookups += 1
            window.queries += request.num_tokens
            window.hits += num_hits()
    except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
        recording.failed()


def wrap_record_prefix_cache_stats(original: Callable[..., Any]) -> Callable[..., Any]:
    """vLLM (since Jul 2026) counts a lookup here, once the request is admitted."""
    global _stats_method_patched
    _stats_method_patched = True

    def record_prefix_cache_stats(self: Any, request: Any, num_hits: int, *args: Any, **kwargs: Any) -> Any:
        _count_lookup(self, request, lambda: num_hits)
        return original(self, request, num_hits, *args, **kwargs)

    return record_prefix_cache_stats


def wrap_get_computed_blocks(original: Callable[..., Any]) -> Callable[..., Any]:
    """Timed; and where record_prefix_cache_stats does not exist (vLLM before Jul 2026), the
    lookup is counted here, as vLLM counted it then: (blocks, hit tokens[, boundary])."""
    timed = _timed("get_computed_blocks")(original)

    def get_computed_blocks(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        result = timed(self, request, *args, **kwargs)
        if not _stats_method_patched:
            _count_lookup(self, request, lambda: result[1])
        if preemption.awaiting_resume:
            preemption.looked_up(request, result)
        return result

    return get_computed_blocks


_MODULE = "vllm.v1.core.kv_cache_manager"
TARGETS = [
    PatchTarget(
        "KVCacheManager",
        _MODULE,
        "KVCacheManager.allocate_slots",
        _timed("allocate_slots"),
        required_params=("request", "num_new_tokens"),
    ),
    PatchTarget(
        "KVCacheManager",
        _MODULE,
        "KVCacheManager.get_computed_blocks",
        wrap_get_computed_blocks,
        required_params=("request",),
    ),
    PatchTarget(
        "KVCacheManager",
        _MODULE,
        "KVCacheManager.free",
        lambda original: _timed("free")(preemption.wrap_free(original)),
        required_params=("request",),
    ),
    PatchTarget(
        "KVCacheManager",
        _MODULE,
        "KVCacheManager.record_prefix_cache_stats",
        wrap_record_prefix_cache_stats,
        required_params=("request", "num_hits"),
        fallback="older vLLM: lookups are counted from get_computed_blocks",
    ),
]
