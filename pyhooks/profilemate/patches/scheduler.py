"""Scheduler.schedule: one SchedulerStep per call (the batch it formed against the live limits,
the prefill/decode split, the queues, KV usage, its CPU time), one KV usage sample (stamped when
schedule() returned), and the step's number for the forward pass that will execute it (steps.py);
an NVTX range around it.

Reads only plain attributes and non-draining getters; never touches the device.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..registry import PatchTarget
from . import kv_cache_manager, recording
from .kv_cache_manager import next_flush_ns
from .steps import MAX_IN_FLIGHT, in_flight, phase_of

_steps = itertools.count(1)
# id(scheduler) -> (scheduler, block pool, usable blocks, max requests, token budget). The entry
# holds the scheduler, so that its id cannot be reused while it is here; a process has one or two.
_fixed: dict[int, tuple[Any, Any, int, int, int]] = {}
_MAX_SCHEDULERS = 8


def _fixed_facts(scheduler: Any) -> tuple[Any, Any, int, int, int]:
    """What does not change over a scheduler's life, read once: its block pool, the pool's usable
    blocks (block 0 is the null block), max requests, and the token budget (renamed in 2026)."""
    if len(_fixed) >= _MAX_SCHEDULERS:
        _fixed.clear()
    pool = scheduler.kv_cache_manager.block_pool
    tokens = getattr(scheduler, "max_num_scheduled_tokens", None)
    if not isinstance(tokens, int):
        tokens = getattr(scheduler, "max_num_batched_tokens", 0)
    facts = _fixed[id(scheduler)] = (
        scheduler,
        pool,
        max(pool.num_gpu_blocks - 1, 0),
        getattr(scheduler, "max_num_running_reqs", 0),
        tokens,
    )
    return facts


def _continuing_prefills(cached: Any, outputs: list[int], per_request: dict[str, int]) -> tuple[int, int]:
    """(requests, tokens) of running requests without an output token yet: a chunked prefill
    that continues."""
    seqs = tokens = 0
    for req_id, produced in zip(cached.req_ids, outputs):
        if produced == 0:
            seqs += 1
            tokens += per_request.get(req_id, 0)
    return seqs, tokens


def record_step(native: ModuleType, scheduler: Any, output: Any, step: int, started_ns: int, ended_ns: int) -> None:
    per_request: dict[str, int] = output.num_scheduled_tokens
    num_seqs = len(per_request)
    num_tokens = output.total_num_scheduled_tokens
    # The prompt phase as vLLM's compute_iteration_details counts it: new requests, and running
    # ones without an output token yet.
    new_requests = output.scheduled_new_reqs
    prefill_seqs = len(new_requests)
    prefill_tokens = 0
    for request in new_requests:
        prefill_tokens += per_request.get(request.req_id, 0)
    cached = getattr(output, "scheduled_cached_reqs", None)
    outputs = getattr(cached, "num_output_tokens", None)  # since 2025; before, none are found
    if outputs and 0 in outputs:  # a C-speed scan: decode-only steps pay nothing more
        seqs, tokens = _continuing_prefills(cached, outputs, per_request)
        prefill_seqs += seqs
        prefill_tokens += tokens
    _, pool, total_blocks, max_requests, max_tokens = _fixed.get(id(scheduler)) or _fixed_facts(scheduler)
    decode_seqs = num_seqs - prefill_seqs
    if len(in_flight) >= MAX_IN_FLIGHT:
        in_flight.clear()
    # For the forward pass that will execute this step.
    in_flight[id(output)] = (step, phase_of(num_seqs, prefill_seqs, decode_seqs))
    used_blocks = total_blocks - pool.get_num_free_blocks()
    native.scheduler_step(
        step=step,
        t_ns=started_ns,
        schedule_duration_ns=ended_ns - started_ns,
        num_seqs=num_seqs,
        max_num_seqs=max_requests,
        num_tokens=num_tokens,
        max_tokens=max_tokens,
        num_prefill_seqs=prefill_seqs,
        num_decode_seqs=decode_seqs,
        num_prefill_tokens=prefill_tokens,
        num_decode_tokens=num_tokens - prefill_tokens,
        running_queue_len=len(scheduler.running),
        waiting_queue_len=len(scheduler.waiting),
        # vLLM's BlockPool.get_usage(), without its call: usable blocks exclude the null block.
        kv_usage_pct=100.0 * used_blocks / total_blocks if total_blocks else None,
    )
    if total_blocks:
        native.kv_usage(t_ns=ended_ns, step=step, used_blocks=used_blocks, total_blocks=total_blocks)


def wrap_schedule(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()
    now = native.now
    ranges = recording.nvtx_ranges()
    range_push, range_pop = native.range_push, native.range_pop

    # (self, ...) as one tuple, passed on as it came: naming self would copy the arguments.
    def schedule(*args: Any, **kwargs: Any) -> Any:
        started = now()
        step = recording.step = next(_steps)  # numbered before: a preemption inside belongs to it
        recording.in_schedule = True
        if ranges:  # an NVTX range "schedule", payload the step number (the CSV files' step)
            range_push("schedule", step)
        try:
            output = original(*args, **kwargs)
        finally:
            recording.in_schedule = False
            if ranges:
                range_pop()
        try:
            ended = now()
            record_step(native, args[0], output, step, started, ended)
            if ended >= next_flush_ns[0]:
                kv_cache_manager.flush(native, step, ended)
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failed()
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
