#!/usr/bin/env python3
"""Added cost of a patched vLLM call: Scheduler.schedule of the stand-in vLLM, unpatched,
patched by ProfileMate, and wrapped the predecessor's way (perf_counter around the call, a tuple
appended to a Python list), all in the same run. Prints medians of repeated timings.

    PYTHONPATH=build/pyhooks:tests/pyhooks/standins/vllm_2026:tests/pyhooks/standins/common \\
        python3 bench/pyhooks_bench.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import timeit

CALLS = 20_000
REPEATS = 7


def median_ns_per_call(scheduler_class: type) -> float:
    def one_call() -> None:
        scheduler.schedule()
        del scheduler.running[:-63]  # a steady batch of 64 requests, as in a busy server

    scheduler = scheduler_class(num_gpu_blocks=10**9)
    timings = timeit.repeat(one_call, number=CALLS, repeat=REPEATS)
    return statistics.median(timings) / CALLS * 1e9


def main() -> None:
    session = tempfile.TemporaryDirectory(prefix="profilemate_pyhooks_bench_")
    os.environ["PROFILEMATE_SESSION_DIR"] = session.name
    os.environ["VLLM_ENABLE_PROFILING"] = "1"
    from vllm.v1.core.sched.scheduler import Scheduler

    original = Scheduler.schedule
    baseline = median_ns_per_call(Scheduler)

    samples: list[tuple[float, int, int]] = []

    def predecessor_style(self: object, *args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        output = original(self, *args, **kwargs)
        samples.append((time.perf_counter() - start, len(output.num_scheduled_tokens), output.total_num_scheduled_tokens))
        return output

    Scheduler.schedule = predecessor_style
    predecessor = median_ns_per_call(Scheduler)
    Scheduler.schedule = original

    import profilemate

    assert profilemate.install()
    ours = median_ns_per_call(Scheduler)

    print(f"Scheduler.schedule (stand-in), median of {REPEATS} x {CALLS} calls")
    print(f"  unpatched                      {baseline:8.0f} ns/call")
    print(f"  predecessor style (list)       {predecessor:8.0f} ns/call  (+{predecessor - baseline:.0f})")
    print(f"  ProfileMate                    {ours:8.0f} ns/call  (+{ours - baseline:.0f})")
    session.cleanup()


if __name__ == "__main__":
    main()
