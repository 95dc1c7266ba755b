"""Scheduler.schedule: one SchedulerStep per call (the batch it formed against the live limits,
the prefill/decode split, the queues, KV usage, its CPU time) and one KV usage sample.

Reads only plain attributes and non-draining getters; never touches the device.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget
from . import recording

_steps = itertools.count(1)


def _limit(scheduler: Any, *names: str) -> int:
    for name in names:
        value = getattr(scheduler, name, None)
        if isinstance(value, int):
            return value
    return 0


def record_step(scheduler: Any, output: Any, started_ns: int, ended_ns: int) -> None:
    native = recording.native()
    per_request: dict[str, int] = getattr(output, "num_scheduled_tokens", None) or {}
    new_ids = [request.req_id for request in getattr(output, "scheduled_new_reqs", ()) or ()]
    prefill_tokens = sum(per_request.get(request_id, 0) for request_id in new_ids)
    num_tokens = int(getattr(output, "total_num_scheduled_tokens", sum(per_request.values())))
    kv_manager = getattr(scheduler, "kv_cache_manager", None)
    pool = getattr(kv_manager, "block_pool", None)
    total_blocks = max(int(getattr(pool, "num_gpu_blocks", 1)) - 1, 0)  # block 0 is the null block
    used_blocks = total_blocks - int(pool.get_num_free_blocks()) if pool is not None else 0
    usage_pct = 100.0 * used_blocks / total_blocks if total_blocks else -1.0
    step = next(_steps)
    native.scheduler_step(
        step,
        started_ns,
        ended_ns - started_ns,
        len(per_request),
        _limit(scheduler, "max_num_running_reqs"),
        num_tokens,
        _limit(scheduler, "max_num_scheduled_tokens", "max_num_batched_tokens"),
        len(new_ids),
        len(per_request) - len(new_ids),
        prefill_tokens,
        num_tokens - prefill_tokens,
        len(getattr(scheduler, "running", ())),
        len(getattr(scheduler, "waiting", ())),
        usage_pct,
    )
    if total_blocks:
        native.kv_usage(ended_ns, step, used_blocks, total_blocks)


def wrap_schedule(original: Callable[..., Any]) -> Callable[..., Any]:
    def schedule(self: Any, *args: Any, **kwargs: Any) -> Any:
        native = recording.native()
        started = native.now()
        output = original(self, *args, **kwargs)
        recording.guarded(record_step, self, output, started, native.now())
        return output

    return schedule


TARGETS = [
    PatchTarget(
        component="Scheduler",
        module="vllm.v1.core.sched.scheduler",
        qualname="Scheduler.schedule",
        wrap=wrap_schedule,
        required_params=("self",),
    ),
]
