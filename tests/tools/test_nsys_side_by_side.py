"""Side by side with nsys, both ways, on the driver simulator (no nsys, no GPU here):

- inside nsys: `profilemate profile --trace python,nvtx` under a CUDA_INJECTION64_PATH that another
  tool holds (a fake injection library standing for nsys's) and an NVTX tool loaded through
  NVTX_INJECTION64_PATH (a fake that logs every range, standing for nsys's NVTX tracing). The
  Python hooks record everything but CUPTI's part, and ProfileMate's NVTX ranges reach the tool;
- separate runs: one traced by ProfileMate's injection library (CUPTI), one inside "nsys", put
  side by side with `profilemate compare`; their steps and graph replay counts agree.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from test_profile_command import BUILD, CLI, CUDA_INIT, finish, profile, rows

FAKE_NVTX_TOOL = BUILD / "tests" / "injection" / "libfake_nvtx_tool.so"
OTHER_INJECTION = BUILD / "tests" / "injection" / "libfake_other_injection.so"
STEPS = 8
REPLAYS = STEPS - 1  # the first forward pass captures the graph

# A vLLM-like engine in one process: each step is scheduled, executed, and its forward pass runs
# through a CUDAGraphWrapper: captured the first time (cudaStreamBeginCapture ... instantiate on
# the driver simulator), replayed after (a cudaGraphLaunch each). The driver loads whatever
# CUDA_INJECTION64_PATH names, as the real one does in cuInit.
APP = f"""
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.worker.gpu_model_runner import GPUModelRunner
from vllm.compilation.cuda_graph import CUDAGraphWrapper
from vllm.config.compilation import CUDAGraphMode
from vllm.forward_context import BatchDescriptor, set_forward_context
{CUDA_INIT}
scheduler, runner = Scheduler(), GPUModelRunner()
model = CUDAGraphWrapper(lambda x: driver.fake_driver_capture(3, 1, 101, 12) or x,
                         runtime_mode=CUDAGraphMode.FULL)
for _ in range({STEPS}):
    output = scheduler.schedule()
    runner.execute_model(output)
    with set_forward_context(CUDAGraphMode.FULL, BatchDescriptor(16, num_reqs=16, uniform=True)):
        replays = model.replays
        model(1)
        if model.replays > replays:  # what entry.cudagraph.replay() does
            driver.fake_driver_launch(101, 3)
driver.fake_driver_run_gpu(500_000)
"""


def nvtx_events(log: Path) -> list[tuple[str, ...]]:
    """The fake NVTX tool's lines: (event, domain, id, payload, message), pid and tid left out."""
    if not log.exists():
        return []
    return [tuple(line.split("\t")[2:]) for line in log.read_text(encoding="utf-8").splitlines()]


def inside_nsys(tmp_path: Path, name: str, trace: str) -> tuple[int, str, str, Path]:
    """`profilemate profile -o NAME --trace TRACE -- python app.py` where "nsys" holds the CUDA
    injection slot and its NVTX tool is attached; returns the exit code, stdout, stderr, NVTX log."""
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    log = tmp_path / f"{name}-nvtx.log"
    code, out, err = finish(
        profile(
            tmp_path,
            "-o",
            name,
            "--trace",
            trace,
            "--",
            sys.executable,
            "app.py",
            env={
                "CUDA_INJECTION64_PATH": str(OTHER_INJECTION),
                "NVTX_INJECTION64_PATH": str(FAKE_NVTX_TOOL),
                "FAKE_NVTX_LOG": str(log),
            },
        )
    )
    return code, out, err, log


def test_inside_nsys_the_python_hooks_record_and_profilemates_ranges_reach_the_nvtx_tool(tmp_path: Path) -> None:
    code, out, err, log = inside_nsys(tmp_path, "run", "python,nvtx")
    assert code == 0, f"{out}\n{err}"
    assert f"CUDA_INJECTION64_PATH is already set ({OTHER_INJECTION})" in err, err
    assert "one subscriber" in err and "no CUDA graph GPU times" in err, err
    assert "The Python hooks (steps, KV cache, graph replay counts) and NVTX ranges still work." in err, err

    session = tmp_path / "run"
    assert len(rows(session / "batch_utilization.csv")) == STEPS
    assert len(rows(session / "forward_pass_timing.csv")) == STEPS
    usage = rows(session / "cuda_graph_usage.csv")
    assert [
        (
            r["runtime_mode"],
            r["num_tokens"],
            r["num_reqs"],
            r["uniform"],
            r["replay_count"],
            r["replay_source"],
            r["gpu_replays"],
            r["gpu_time_total_ms"],
        )
        for r in usage
    ] == [("FULL", "16", "16", "True", str(REPLAYS), "python", "0", "")], "replays counted by the Python hooks"
    assert rows(session / "cuda_graph_replays.csv") == [], "no CUPTI: ProfileMate's injection library was not loaded"
    assert rows(session / "cuda_graph_captures.csv") == []
    assert f"CUDA graph replays:     {REPLAYS} (" in out, out

    events = nvtx_events(log)
    assert events[0] == ("domain_create", "ProfileMate", "-", "-", "-"), events[:3]
    ours = [e for e in events if e[1] == "ProfileMate" and e[0] == "push"]
    expected = [(message, str(step)) for step in range(1, STEPS + 1) for message in ("schedule", "execute_model")]
    assert [(e[4], e[3]) for e in ours] == expected, "a range per step and per forward pass, payload the step"
    assert all(e[2] == "0" for e in ours), "not nested: schedule() and execute_model() follow each other"
    assert sum(e[0] == "pop" for e in events) == len(ours), "every range is closed"
    assert not [e for e in events if e[0] == "range_start"], "graph capture ranges need the injection library"


def test_inside_nsys_without_nvtx_in_trace_profilemate_opens_no_ranges(tmp_path: Path) -> None:
    code, out, err, log = inside_nsys(tmp_path, "run", "python")
    assert code == 0, f"{out}\n{err}"
    assert "The Python hooks (steps, KV cache, graph replay counts) still work." in err, err
    assert len(rows(tmp_path / "run" / "batch_utilization.csv")) == STEPS
    assert [e for e in nvtx_events(log) if e[1] == "ProfileMate"] == [], "PROFILEMATE_NVTX=0 reached the hooks"


def compare_csv(a: Path, b: Path) -> dict[str, dict[str, str]]:
    done = subprocess.run(
        [str(CLI), "compare", str(a), str(b), "--report", "graphs,steps", "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {r["metric"]: r for r in csv.DictReader(io.StringIO(done.stdout))}


def test_separate_runs_side_by_side_agree_on_steps_and_graph_replays(tmp_path: Path) -> None:
    # A: ProfileMate alone (CUPTI through its injection library), the NVTX tool attached as well.
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    log_a = tmp_path / "a-nvtx.log"
    code, out, err = finish(
        profile(
            tmp_path,
            "-o",
            "a",
            "--",
            sys.executable,
            "app.py",
            env={"NVTX_INJECTION64_PATH": str(FAKE_NVTX_TOOL), "FAKE_NVTX_LOG": str(log_a)},
        )
    )
    assert code == 0, f"{out}\n{err}"
    assert "already set" not in err
    usage_a = rows(tmp_path / "a" / "cuda_graph_usage.csv")
    assert [(r["replay_count"], r["replay_source"], r["gpu_replays"]) for r in usage_a] == [
        (str(REPLAYS), "cupti", str(REPLAYS))
    ]
    starts = [e for e in nvtx_events(log_a) if e[0] == "range_start"]
    assert [(e[1], e[4]) for e in starts] == [("ProfileMate", "CUDA graph capture FULL num_tokens=16")], (
        "the injection library's capture range"
    )
    assert ("range_end", "ProfileMate", starts[0][2], "-", "-") in nvtx_events(log_a)

    # B: the same program inside "nsys".
    code, out, err, _ = inside_nsys(tmp_path, "b", "python,nvtx")
    assert code == 0, f"{out}\n{err}"

    metrics = compare_csv(tmp_path / "a", tmp_path / "b")
    steps = [m for m in metrics if m.startswith("steps.tokens_per_step.")]
    assert steps, sorted(metrics)
    for name in ("steps.tokens_per_step.count", "steps.forward_cpu_time.count"):
        assert metrics[name]["a"] == metrics[name]["b"] == str(STEPS), metrics[name]
    replays = metrics["graphs.(all).replays"]
    assert replays["a"] == replays["b"] == str(REPLAYS), f"cupti vs python counts: {replays}"
    gpu = metrics["graphs.(all).gpu_total_ms"]
    assert gpu["a"] not in ("", "-") and gpu["b"] in ("", "-"), f"GPU time only from CUPTI: {gpu}"
