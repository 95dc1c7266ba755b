#!/usr/bin/env python3
"""Added cost of each patched vLLM call, on the stand-in vLLM, all in the same run:

- unpatched: the call itself (ns/call);
- predecessor: wrapped the predecessor's way, perf_counter around the call and a tuple appended
  to a Python list (timing only);
- Python recorder: ProfileMate's hook (the same facts) writing to a pure-Python recorder,
  perf_counter_ns and a list append per record: what the recorder core saves;
- ProfileMate: the hook as shipped, writing through the native recorder, with its NVTX ranges
  (no NVTX tool attached: the usual case outside nsys);
- NVTX part: what the ranges add to that: the hook made with PROFILEMATE_NVTX=0 and as shipped,
  timed in alternation, the fastest of 21 timings each (a difference of tens of ns; the drift
  and interruptions of a shared machine would hide it in medians).

One target is patched at a time. Prints medians of repeated timings, as the added cost against
the unpatched call.

    PYTHONPATH=build/pyhooks:tests/pyhooks/standins/vllm_2026:tests/pyhooks/standins/common \\
        python3 bench/pyhooks_bench.py [--json FILE]

--json also writes the figures to FILE (for bench/performance_report.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from typing import Any

CALLS = 20_000
REPEATS = 7


def median_ns(call: Callable[[], Any]) -> float:
    return statistics.median(timeit.repeat(call, number=CALLS, repeat=REPEATS)) / CALLS * 1e9


def predecessor_style(original: Callable[..., Any], samples: list[tuple[float, str]]) -> Callable[..., Any]:
    name = original.__qualname__

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = original(*args, **kwargs)
        samples.append((time.perf_counter() - start, name))
        return result

    return wrapper


class PythonRecorder:
    """Stands in for profilemate._native: every record's fields (a dict, or a tuple of positional
    arguments) appended to a list."""

    def __init__(self) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.now = time.perf_counter_ns

    def __getattr__(self, name: str) -> Callable[..., None]:
        append = self.records.append

        def record(*args: Any, **fields: Any) -> None:
            append(fields or args)

        setattr(self, name, record)  # looked up once per name
        return record


def schedule_case() -> Callable[[], Any]:
    from vllm.v1.core.sched.scheduler import Scheduler

    scheduler = Scheduler(num_gpu_blocks=10**9)

    def call() -> None:
        scheduler.schedule()
        del scheduler.running[:-63]  # a steady batch of 64 requests, as in a busy server

    return call


def allocate_slots_case() -> Callable[[], Any]:
    from standin_parts import Request
    from vllm.v1.core.kv_cache_manager import KVCacheManager

    manager = KVCacheManager(num_gpu_blocks=1001)
    request = Request("r", 0, 0.0)

    def call() -> None:
        manager.allocate_slots(request, 16)
        manager.block_pool.free_blocks(request.blocks)
        request.blocks = []

    return call


def get_new_blocks_case() -> Callable[[], Any]:
    from vllm.v1.core.block_pool import BlockPool

    pool = BlockPool(1001)

    def call() -> None:
        pool.free_blocks(pool.get_new_blocks(1))

    return call


def execute_model_case() -> Callable[[], Any]:
    from standin_parts import SchedulerOutput
    from vllm.v1.worker.gpu_model_runner import GPUModelRunner

    runner = GPUModelRunner()
    output = SchedulerOutput([], {f"r{i}": 1 for i in range(64)}, 64)

    def call() -> None:
        runner.execute_model(output)
        runner.executed.clear()

    return call


def graph_replay_case() -> Callable[[], Any]:
    from vllm.compilation.cuda_graph import CUDAGraphWrapper
    from vllm.config.compilation import CUDAGraphMode
    from vllm.forward_context import BatchDescriptor, set_forward_context

    wrapper = CUDAGraphWrapper(lambda x: x, runtime_mode=CUDAGraphMode.FULL)
    context = set_forward_context(CUDAGraphMode.FULL, BatchDescriptor(64, num_reqs=64, uniform=True))
    context.__enter__()  # left open: every timed call replays
    wrapper(1)  # captures
    return lambda: wrapper(1)


CASES = [
    ("Scheduler.schedule", "vllm.v1.core.sched.scheduler", "Scheduler", "schedule", schedule_case),
    (
        "KVCacheManager.allocate_slots",
        "vllm.v1.core.kv_cache_manager",
        "KVCacheManager",
        "allocate_slots",
        allocate_slots_case,
    ),
    ("BlockPool.get_new_blocks", "vllm.v1.core.block_pool", "BlockPool", "get_new_blocks", get_new_blocks_case),
    (
        "GPUModelRunner.execute_model",
        "vllm.v1.worker.gpu_model_runner",
        "GPUModelRunner",
        "execute_model",
        execute_model_case,
    ),
    (
        "CUDAGraphWrapper.__call__ (replay)",
        "vllm.compilation.cuda_graph",
        "CUDAGraphWrapper",
        "__call__",
        graph_replay_case,
    ),
]


def nvtx_part_ns(target: Any, owner: type, method: str, make_case: Callable[[], Callable[[], Any]]) -> float:
    original = owner.__dict__.get(method)
    hooks = []
    for nvtx in ("0", "1"):
        os.environ["PROFILEMATE_NVTX"] = nvtx
        hooks.append(target.wrap(getattr(owner, method)))
    call = make_case()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(3 * REPEATS):
        for hook, samples in zip(hooks, times):
            setattr(owner, method, hook)
            samples.append(timeit.timeit(call, number=CALLS) / CALLS * 1e9)
    if original is None:
        delattr(owner, method)
    else:
        setattr(owner, method, original)
    return min(times[1]) - min(times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", help="also write the figures to this file")
    options = parser.parse_args()
    figures: list[dict[str, Any]] = []
    session = tempfile.TemporaryDirectory(prefix="profilemate_pyhooks_bench_")
    os.environ["PROFILEMATE_SESSION_DIR"] = session.name
    from profilemate.patches import all_targets, recording
    from profilemate.registry import Registry

    native = recording.native()
    assert native.start(), "the recorder did not start"
    targets = all_targets()
    print(f"Added cost per patched call (stand-in vLLM), median of {REPEATS} x {CALLS} calls, ns/call")
    print(
        f"  {'call':36} {'unpatched':>10} {'predecessor':>12} {'Python recorder':>16} {'ProfileMate':>12}"
        f" {'NVTX part':>10}"
    )
    for name, module_name, class_name, method, make_case in CASES:
        __import__(module_name)
        owner = getattr(sys.modules[module_name], class_name)
        original = getattr(owner, method)  # may be inherited (the 2026 KVCacheManager)
        baseline = median_ns(make_case())

        samples: list[tuple[float, str]] = []
        setattr(owner, method, predecessor_style(original, samples))
        predecessor = median_ns(make_case())
        setattr(owner, method, original)

        target = [t for t in targets if t.module == module_name and t.qualname == f"{class_name}.{method}"]
        added = []
        # The hooks bind their recorder, and read PROFILEMATE_NVTX, when they wrap.
        for recorder, nvtx in ((PythonRecorder(), "0"), (native, "1")):
            recording._native = recorder
            os.environ["PROFILEMATE_NVTX"] = nvtx
            registry = Registry(target)
            assert [r.applied for r in registry.apply_ready()] == [True], f"{name} was not patched"
            added.append(median_ns(make_case()) - baseline)
            registry.unpatch()
        nvtx_part = nvtx_part_ns(target[0], owner, method, make_case)
        print(
            f"  {name:36} {baseline:10.0f} {predecessor - baseline:+12.0f} {added[0]:+16.0f} {added[1]:+12.0f}"
            f" {nvtx_part:+10.0f}"
        )
        figures.append(
            {
                "call": name,
                "unpatched_ns": baseline,
                "predecessor_added_ns": predecessor - baseline,
                "python_recorder_added_ns": added[0],
                "profilemate_added_ns": added[1],
                "nvtx_part_ns": nvtx_part,
            }
        )
    print(f"recording failures: {recording.failures}")
    if options.json:
        with open(options.json, "w", encoding="utf-8") as out:
            json.dump({"calls": CALLS, "repeats": REPEATS, "failures": recording.failures, "rows": figures}, out)
    session.cleanup()


if __name__ == "__main__":
    main()
