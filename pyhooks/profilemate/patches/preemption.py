"""Scheduler._preempt_request: one row per preemption, with what it cost (computed tokens that
must be recomputed, KV blocks released) and how full the KV cache was just before."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget
from . import recording


def _free_blocks(scheduler: Any) -> tuple[int, int]:
    pool = scheduler.kv_cache_manager.block_pool
    return pool.get_num_free_blocks(), pool.num_gpu_blocks - 1  # block 0 is the null block


def wrap_preempt(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()

    def _preempt_request(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            computed = request.num_computed_tokens
            free_before, total = _free_blocks(self)
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failures += 1
            return original(self, request, *args, **kwargs)
        result = original(self, request, *args, **kwargs)
        try:
            free_after, _ = _free_blocks(self)
            arrival = getattr(request, "arrival_time", None)
            running_ns = int((time.time() - arrival) * 1e9) if isinstance(arrival, (int, float)) else 0
            native.preemption(
                native.now(),
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

    return _preempt_request


TARGETS = [
    PatchTarget(
        component="Preemption",
        module="vllm.v1.core.sched.scheduler",
        qualname="Scheduler._preempt_request",
        wrap=wrap_preempt,
        required_params=("request",),
    ),
]
