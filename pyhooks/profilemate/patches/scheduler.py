"""Scheduler.schedule: one SchedulerStep per call (the batch it formed against the live limits,
the prefill/decode split, the queues, KV usage, its CPU time), one KV usage sample, and the
step's number for the forward pass that will execute it (steps.py).

Reads only plain attributes and non-draining getters; never touches the device.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..registry import PatchTarget
from . import kv_cache_manager, recording, steps

_steps = itertools.count(1)


def _limits(scheduler: Any) -> tuple[int, int]:
    """(max requests, max tokens) of a live scheduler; the token budget's name changed in 2026."""
    tokens = getattr(scheduler, "max_num_scheduled_tokens", None)
    if not isinstance(tokens, int):
        tokens = getattr(scheduler, "max_num_batched_tokens", 0)
    return getattr(scheduler, "max_num_running_reqs", 0), tokens


def record_step(native: ModuleType, scheduler: Any, output: Any, started_ns: int, ended_ns: int) -> int:
    """Records the step; returns its number."""
    per_request: dict[str, int] = output.num_scheduled_tokens
    num_tokens = output.total_num_scheduled_tokens
    new_requests = output.scheduled_new_reqs
    prefill_tokens = 0
    for request in new_requests:
        prefill_tokens += per_request.get(request.req_id, 0)
    pool = scheduler.kv_cache_manager.block_pool
    total_blocks = pool.num_gpu_blocks - 1  # block 0 is the null block
    max_requests, max_tokens = _limits(scheduler)
    step = next(_steps)
    prefill_seqs = len(new_requests)
    decode_seqs = len(per_request) - prefill_seqs
    steps.scheduled(output, step, steps.phase_of(num_tokens, prefill_seqs, decode_seqs))
    native.scheduler_step(
        step,
        started_ns,
        ended_ns - started_ns,
        len(per_request),
        max_requests,
        num_tokens,
        max_tokens,
        prefill_seqs,
        decode_seqs,
        prefill_tokens,
        num_tokens - prefill_tokens,
        len(scheduler.running),
        len(scheduler.waiting),
        total_blocks - pool.get_num_free_blocks(),
        max(total_blocks, 0),
    )
    return step


def wrap_schedule(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()
    now = native.now

    def schedule(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = now()
        recording.in_schedule = True
        try:
            output = original(self, *args, **kwargs)
        finally:
            recording.in_schedule = False
        try:
            ended = now()
            kv_cache_manager.flush(native, record_step(native, self, output, started, ended), ended)
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failures += 1
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
