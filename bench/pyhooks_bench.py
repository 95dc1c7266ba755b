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
  timed in alternation, the fastest of 45 timings each (a difference of tens of ns; the drift
  and interruptions of a shared machine would hide it in medians).

One target is patched at a time. The variants take turns, round after round (the order rotated):
each figure is the median over rounds of its difference from the unpatched call timed in the same
round, so that the drift of a shared machine moves both sides of each difference.

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

CALLS = 10_000
REPEATS = 15


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


def paired_added_ns(
    owner: type, method: str, call: Callable[[], Any], variants: dict[str, tuple[Callable[..., Any], Any]]
) -> dict[str, float]:
    """Each variant of the method timed in turn, REPEATS rounds, the order rotated every round: the
    median over rounds of its difference from the unpatched call in the same round (a shared
    machine's drift moves both), and the unpatched call's own median."""
    from profilemate.patches import recording

    names = list(variants)
    times: dict[str, list[float]] = {variant: [] for variant in names}
    for round_ in range(REPEATS):
        for variant in names[round_ % len(names) :] + names[: round_ % len(names)]:
            function, recording._native = variants[variant]
            setattr(owner, method, function)
            times[variant].append(timeit.timeit(call, number=CALLS) / CALLS * 1e9)
    added = {
        variant: statistics.median(t - u for t, u in zip(times[variant], times["unpatched"]))
        for variant in names
        if variant != "unpatched"
    }
    return {"unpatched": statistics.median(times["unpatched"]), **added}


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

    native = recording.native()
    assert native.start(), "the recorder did not start"
    targets = all_targets()
    print(
        f"Added cost per patched call (stand-in vLLM), ns/call: median over {REPEATS} rounds of {CALLS} calls of"
        " each variant against the unpatched call in the same round"
    )
    print(
        f"  {'call':36} {'unpatched':>10} {'predecessor':>12} {'Python recorder':>16} {'ProfileMate':>12}"
        f" {'NVTX part':>10}"
    )
    for name, module_name, class_name, method, make_case in CASES:
        __import__(module_name)
        owner = getattr(sys.modules[module_name], class_name)
        defined = owner.__dict__.get(method)
        original = getattr(owner, method)  # may be inherited (the 2026 KVCacheManager)
        target = [t for t in targets if t.module == module_name and t.qualname == f"{class_name}.{method}"]
        assert len(target) == 1, f"no patch target for {name}"
        samples: list[tuple[float, str]] = []
        variants = {"unpatched": (original, native), "predecessor": (predecessor_style(original, samples), native)}
        # The hooks bind their recorder, and read PROFILEMATE_NVTX, when they wrap.
        for variant, recorder, nvtx in (("python", PythonRecorder(), "0"), ("profilemate", native, "1")):
            recording._native = recorder
            os.environ["PROFILEMATE_NVTX"] = nvtx
            variants[variant] = (target[0].wrap(original), recorder)
        added = paired_added_ns(owner, method, make_case(), variants)
        recording._native = native
        if defined is None:
            delattr(owner, method)
        else:
            setattr(owner, method, defined)
        baseline = added.pop("unpatched")
        nvtx_part = nvtx_part_ns(target[0], owner, method, make_case)
        print(
            f"  {name:36} {baseline:10.0f} {added['predecessor']:+12.0f} {added['python']:+16.0f}"
            f" {added['profilemate']:+12.0f} {nvtx_part:+10.0f}"
        )
        figures.append(
            {
                "call": name,
                "unpatched_ns": baseline,
                "predecessor_added_ns": added["predecessor"],
                "python_recorder_added_ns": added["python"],
                "profilemate_added_ns": added["profilemate"],
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
