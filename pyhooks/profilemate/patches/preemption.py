"""Preemptions: one row each, with what it cost (computed tokens that must be recomputed, KV
blocks released) and how full the KV cache was just before.

vLLM since Dec 2025 preempts in Scheduler._preempt_request. Before, the preemption was written
out inside schedule(): the request's blocks are released through KVCacheManager.free, which
schedule() calls for nothing else; that call is recognised when _preempt_request is absent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget
from . import recording

_method_patched = False  # Scheduler._preempt_request is wrapped: KVCacheManager.free need not look


def _scheduler_pool(scheduler: Any) -> Any:
    return scheduler.kv_cache_manager.block_pool


def _manager_pool(manager: Any) -> Any:
    return manager.block_pool


def _free_blocks(pool: Any) -> tuple[int, int]:
    return pool.get_num_free_blocks(), pool.num_gpu_blocks - 1  # block 0 is the null block


def _preempted(owner: Any, pool_of: Callable[[Any], Any], request: Any, release: Callable[[], Any]) -> Any:
    """Runs `release` (the preemption itself) and records what it cost; returns its result.
    `pool_of(owner)` is the block pool, read here where a failure is caught."""
    try:
        pool = pool_of(owner)
        computed = request.num_computed_tokens
        free_before, total = _free_blocks(pool)
    except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
        recording.failures += 1
        return release()
    result = release()
    try:
        native = recording.native()
        free_after, _ = _free_blocks(pool)
        arrival = getattr(request, "arrival_time", None)
        running_ns = int((time.time() - arrival) * 1e9) if isinstance(arrival, (int, float)) else 0
        native.preemption(
            native.now(),
            recording.step,
            str(request.request_id),
            "preempted",
            "kv_cache_full" if recording.in_schedule else "reset_prefix_cache",
            max(running_ns, 0),
            computed,
            max(free_after - free_before, 0),
            100.0 * (total - free_before) / total if total > 0 else -1.0,
            f"priority={getattr(request, 'priority', '')}, preemptions={getattr(request, 'num_preemptions', '')}",
        )
    except Exception:  # noqa: BLE001
        recording.failures += 1
    return result


def wrap_preempt(original: Callable[..., Any]) -> Callable[..., Any]:
    global _method_patched
    _method_patched = True

    def _preempt_request(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        return _preempted(self, _scheduler_pool, request, lambda: original(self, request, *args, **kwargs))

    return _preempt_request


def wrap_free(original: Callable[..., Any]) -> Callable[..., Any]:
    """KVCacheManager.free: a preemption when called inside schedule() of a vLLM that has no
    _preempt_request."""

    def free(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if recording.in_schedule and not _method_patched:
            return _preempted(self, _manager_pool, request, lambda: original(self, request, *args, **kwargs))
        return original(self, request, *args, **kwargs)

    return free


TARGETS = [
    PatchTarget(
        component="Preemption",
        module="vllm.v1.core.sched.scheduler",
        qualname="Scheduler._preempt_request",
        wrap=wrap_preempt,
        required_params=("request",),
        fallback="older vLLM: the preemption inside schedule() is recognised through KVCacheManager.free",
    ),
]
