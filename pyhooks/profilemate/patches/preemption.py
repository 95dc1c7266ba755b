"""Preemptions: one row each, with what it cost (the computed tokens whose KV blocks were
released, the blocks) and how full the KV cache was just before; and one "resumed" row when the
request is admitted again, with how many of those tokens the prefix cache still held: only the
rest is recomputed.

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


class _Preempted:
    """A preempted request not yet admitted again."""

    __slots__ = ("computed", "found", "preempted_ns", "reason")

    def __init__(self, computed: int, reason: str, preempted_ns: int) -> None:
        self.computed, self.reason, self.preempted_ns = computed, reason, preempted_ns
        self.found = 0  # prefix-cache hit tokens at its latest lookup


# By request id. The KV cache manager's hooks test it for truth first: empty, it costs nothing.
awaiting_resume: dict[str, _Preempted] = {}


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
        recording.failed()
        return release()
    result = release()
    try:
        native = recording.native()
        free_after, _ = _free_blocks(pool)
        now_ns = native.now()
        reason = "kv_cache_full" if recording.in_schedule else "reset_prefix_cache"
        request_id = str(request.request_id)
        native.preemption(
            t_ns=now_ns,
            step=recording.step,
            request_id=request_id,
            event="preempted",
            reason=reason,
            running_ns=_running_ns(request),
            computed_tokens_lost=computed,
            blocks_freed=max(free_after - free_before, 0),
            kv_usage_before_pct=100.0 * (total - free_before) / total if total > 0 else None,
            extra_info=_extra_info(request),
        )
        awaiting_resume[request_id] = _Preempted(computed, reason, now_ns)
    except Exception:  # noqa: BLE001
        recording.failed()
    return result


def _running_ns(request: Any) -> int:
    arrival = getattr(request, "arrival_time", None)
    return max(int((time.time() - arrival) * 1e9), 0) if isinstance(arrival, (int, float)) else 0


def _extra_info(request: Any) -> str:
    return f"priority={getattr(request, 'priority', '')}, preemptions={getattr(request, 'num_preemptions', '')}"


def looked_up(request: Any, computed_blocks: Any) -> None:
    """KVCacheManager.get_computed_blocks answered (blocks, hit tokens[, boundary]) for a request:
    if it is a preempted one, what the prefix cache still holds of it (a request that cannot be
    admitted yet looks up again, and the latest answer counts)."""
    try:
        preempted = awaiting_resume.get(str(request.request_id))
        if preempted is not None:
            preempted.found = int(computed_blocks[1])
    except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
        recording.failed()


def admitted(request: Any) -> None:
    """KVCacheManager.allocate_slots found room for a request: a preempted one is resumed."""
    try:
        preempted = awaiting_resume.pop(str(request.request_id), None)
        if preempted is None:
            return
        native = recording.native()
        now_ns = native.now()
        found = min(preempted.found, preempted.computed)
        native.preemption(
            t_ns=now_ns,
            step=recording.step,
            request_id=str(request.request_id),
            event="resumed",
            reason=preempted.reason,
            running_ns=_running_ns(request),
            computed_tokens_lost=preempted.computed,
            blocks_freed=0,
            extra_info=f"{_extra_info(request)}, preempted_for_sec={(now_ns - preempted.preempted_ns) * 1e-9:.6f}",
            tokens_found_in_cache=found,
        )
    except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
        recording.failed()


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
