"""GPUModelRunner (V1 and V2): forward passes matched to their scheduler steps in any order,
GPU time from CUDA events resolved without a sync, and the CPU time of the other runner calls."""

from __future__ import annotations

import pytest
from conftest import STANDINS

ASYNC_ORDER = """
import copy
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.worker.{module} import GPUModelRunner
scheduler, runner = Scheduler(), GPUModelRunner()
# Async scheduling: step n+1 is scheduled before step n executes.
outputs = [scheduler.schedule()]
for _ in range(5):
    outputs.append(scheduler.schedule())
    runner.execute_model(outputs.pop(0))
    runner.sample_tokens(None)
runner.execute_model(outputs.pop(0))
runner.sample_tokens(None)
runner._dummy_run(64)
assert runner.capture_model() > 0
print(runner.executed)
"""


def forward_rows(run) -> list[tuple[str, str, str, str]]:
    return [(r["step"], r["phase"], r["batch_size"], r["num_tokens"]) for r in run.csv("forward_pass_timing.csv")]


def step_rows(run) -> list[tuple[str, str, str, str]]:
    return [(r["step"], r["phase"], r["num_seqs"], r["num_tokens"]) for r in run.csv("batch_utilization.csv")]


@pytest.mark.parametrize("module", ["gpu_model_runner", "gpu.model_runner"], ids=["V1", "V2"])
def test_forward_passes_match_their_scheduler_steps_under_async_scheduling(run_workload, module: str) -> None:
    run = run_workload(ASYNC_ORDER.format(module=module))
    steps = step_rows(run)
    assert len(steps) == 6, steps
    assert forward_rows(run) == steps, f"{module}: forward passes do not match their steps"
    for row in run.csv("forward_pass_timing.csv"):
        assert float(row["forward_time_ms"]) >= 0 and row["gpu_time_ms"] == "", row  # no CUDA here


def test_a_worker_that_only_executes_counts_steps_in_order(run_workload) -> None:
    run = run_workload("""
import copy
from standin_parts import NewRequestData, SchedulerOutput
from vllm.v1.worker.gpu_model_runner import GPUModelRunner
runner = GPUModelRunner()
for n in range(1, 5):   # copies, as a worker process receives them
    runner.execute_model(copy.deepcopy(SchedulerOutput([NewRequestData(f"r{n}")], {f"r{n}": n, "old": 1}, n + 1)))
runner.execute_model(SchedulerOutput())   # an empty step: no forward pass, but a step
runner.execute_model(SchedulerOutput([], {"old": 1}, 1))
""")
    assert forward_rows(run) == [
        ("1", "mixed", "2", "2"),
        ("2", "mixed", "2", "3"),
        ("3", "mixed", "2", "4"),
        ("4", "mixed", "2", "5"),
        ("6", "decode", "1", "1"),
    ]


def test_gpu_time_comes_from_events_resolved_later_without_a_sync(run_workload) -> None:
    run = run_workload(
        """
import torch
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.worker.gpu_model_runner import GPUModelRunner
scheduler, runner = Scheduler(), GPUModelRunner()
runner.execute_model(scheduler.schedule())    # step 1: its events are still pending...
runner.execute_model(scheduler.schedule())    # ...and step 2's too
torch.cuda.complete_all()                     # the GPU catches up
runner.execute_model(scheduler.schedule())    # step 3 resolves steps 1 and 2, stays pending itself
""",
        extra_paths=(STANDINS / "fake_torch",),
    )
    rows = {r["step"]: r["gpu_time_ms"] for r in run.csv("forward_pass_timing.csv")}
    # Start and end events are consecutive records: one fake event step of GPU time each.
    assert rows == {"1": "0.250", "2": "0.250", "3": ""}, rows


def test_runner_calls_and_the_schedule_itself_appear_as_cpu_operations(run_workload) -> None:
    run = run_workload(ASYNC_ORDER.format(module="gpu_model_runner"))
    operations = [(r["operation"], r["step"], r["context"]) for r in run.csv("cpu_operations_timing.csv")]
    names = [name for name, _, _ in operations]
    assert names.count("scheduler.schedule") == 6
    assert names.count("model_runner.sample_tokens") == 6
    assert ("model_runner.dummy_run", "6", "num_tokens=64") in operations
    assert ("model_runner.capture_model", "6", "graph_memory_bytes=4096") in operations
    assert [step for name, step, _ in operations if name == "model_runner.sample_tokens"] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]


def test_encoder_calls_are_timed_and_attributed_to_their_step(run_workload) -> None:
    run = run_workload("""
from standin_parts import NewRequestData, SchedulerOutput
from vllm.v1.worker.gpu_model_runner import GPUModelRunner
from vllm.v1.worker.gpu.mm.encoder_runner import EncoderRunner
runner = GPUModelRunner()
output = SchedulerOutput([NewRequestData("r1")], {"r1": 40}, 40)
output.scheduled_encoder_inputs = {"r1": [0, 1]}
runner.execute_model(output)
assert EncoderRunner().execute_mm_encoder([("image", 1)] * 3) == ["embedding-0", "embedding-1", "embedding-2"]
""")
    rows = [(r["component"], r["step"], r["context"], r["gpu_time_ms"]) for r in run.csv("encoder_decoder_timing.csv")]
    assert rows == [("encoder", "1", "outputs=2", ""), ("encoder", "1", "outputs=3", "")], rows
