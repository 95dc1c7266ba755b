"""KVCacheManager: the CPU cost of allocation, prefix-cache lookup and free, failed allocations
(each one makes the scheduler preempt or wait), and the prefix cache's queries and hits counted
as vLLM counts them, without touching (or draining) vLLM's own statistics.

A server calls these once per request per step, so the calls are summed over windows of at least
WINDOW_NS and written as one cpu_operations row per operation and window, at the end of the
scheduler step that closes the window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..registry import PatchTarget
from . import recording

WINDOW_NS = 100_000_000


@dataclass
class _Calls:
    calls: int = 0
    ns: int = 0
    failed: int = 0  # allocate_slots returned None: no room


@dataclass
class _Window:
    start_ns: int = -1
    first_step: int = 0
    operations: dict[str, _Calls] = field(default_factory=dict)
    lookups: int = 0  # requests that looked the prefix cache up
    queries: int = 0  # tokens looked up
    hits: int = 0  # tokens found


_window = _Window()


def flush(native: ModuleType, step: int, now_ns: int, force: bool = False) -> None:
    """Writes the window's rows when it has lasted WINDOW_NS (or when forced, at exit)."""
    global _window
    window = _window
    if window.start_ns < 0:
        window.start_ns, window.first_step = now_ns, step
    if not force and now_ns - window.start_ns < WINDOW_NS:
        return
    for name, calls in window.operations.items():
        context = f"calls={calls.calls} steps={window.first_step}-{step}"
        if name == "allocate_slots":
            context += f" failed={calls.failed}"
        elif name == "get_computed_blocks" and window.lookups:
            context += f" lookups={window.lookups} queried_tokens={window.queries} hit_tokens={window.hits}"
        native.cpu_operation(window.start_ns, step, f"kv_cache_manager.{name}", calls.ns, context)
    _window = _Window(now_ns, step)


def _timed(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        native = recording.native()
        now = native.now
        recording.on_exit(lambda: flush(native, 0, now(), force=True))

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = now()
            result = original(self, *args, **kwargs)
            try:
                calls = _window.operations.get(name)
                if calls is None:
                    calls = _window.operations[name] = _Calls()
                calls.calls += 1
                calls.ns += now() - started
                if result is None and name == "allocate_slots":
                    calls.failed += 1
            except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
                recording.failures += 1
            return result

        return timed

    return wrap


def wrap_record_prefix_cache_stats(original: Callable[..., Any]) -> Callable[..., Any]:
    """vLLM counts a lookup here, once the request is admitted, and only when its own stats are
    on (log_stats); the same condition without log_stats gives the same numbers always."""

    def record_prefix_cache_stats(self: Any, request: Any, num_hits: int, *args: Any, **kwargs: Any) -> Any:
        try:
            if self.enable_caching and not getattr(request, "skip_reading_prefix_cache", False):
                _window.lookups += 1
                _window.queries += request.num_tokens
                _window.hits += num_hits
        except Exception:  # noqa: BLE001
            recording.failures += 1
        return original(self, request, num_hits, *args, **kwargs)

    return record_prefix_cache_stats


_MODULE = "vllm.v1.core.kv_cache_manager"
TARGETS = [
    PatchTarget("KVCacheManager", _MODULE, "KVCacheManager.allocate_slots", _timed("allocate_slots"),
                required_params=("request", "num_new_tokens")),
    PatchTarget("KVCacheManager", _MODULE, "KVCacheManager.get_computed_blocks", _timed("get_computed_blocks"),
                required_params=("request",)),
    PatchTarget("KVCacheManager", _MODULE, "KVCacheManager.free", _timed("free"), required_params=("request",)),
    PatchTarget("KVCacheManager", _MODULE, "KVCacheManager.record_prefix_cache_stats",
                wrap_record_prefix_cache_stats, required_params=("request", "num_hits")),
]
