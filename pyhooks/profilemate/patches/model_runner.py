"""Both GPUModelRunner classes (V1: vllm/v1/worker/gpu_model_runner.py; V2: vllm/v1/worker/gpu/
model_runner.py, same class name): one forward pass per execute_model, matched to its scheduler
step (steps.py), with its CPU launch time and its GPU time from CUDA events resolved later
without a sync (cuda_events.py); the CPU time of sample_tokens, _dummy_run and capture_model.

execute_model is also where per-step work of other hooks happens off vLLM's hot path: the MoE
counters learn the step's real token count before the forward and are read out after it
(moe.py); graph replay counts counted in Python are written from here (cuda_graphs.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget, Wrapper
from . import cuda_graphs, moe, recording, steps
from .cuda_events import GpuTimer
from .cuda_graphs import next_write_ns


def _unscheduled_step_and_phase(output: Any, num_reqs: int) -> tuple[int, int]:
    """(step, phase) of a SchedulerOutput this process did not schedule (steps.executed found
    none): the runner's own count, the phase from the output."""
    prefill = len(output.scheduled_new_reqs)
    return steps.executed_count(), steps.phase_of(num_reqs, prefill, num_reqs - prefill)


def wrap_execute_model(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()
    now = native.now
    # Graphs are captured in capture_model / _dummy_run, never inside a step's execute_model.
    timer = GpuTimer(lambda fields, gpu_ns: native.forward_pass(**fields, gpu_duration_ns=gpu_ns), check_capture=False)
    recording.on_exit(timer.drain)
    ranges = recording.nvtx_ranges()
    range_push, range_pop = native.range_push, native.range_pop
    executed = steps.executed

    # (self, scheduler_output, ...) as one tuple, passed on as it came: naming the parameters would
    # copy the arguments every step.
    def execute_model(*args: Any, **kwargs: Any) -> Any:
        if kwargs and kwargs.get("dummy_run"):  # the V2 runner's warm-up: no step of the scheduler's
            return original(*args, **kwargs)
        try:
            scheduler_output = args[1] if len(args) > 1 else kwargs["scheduler_output"]
            num_tokens = scheduler_output.total_num_scheduled_tokens
            num_reqs = len(scheduler_output.num_scheduled_tokens)
            found = executed(scheduler_output)
            step, phase = found if found is not None else _unscheduled_step_and_phase(scheduler_output, num_reqs)
            begin = None
            if num_tokens:
                begin = timer.start()
                moe.before_forward(num_tokens, step)  # MoE counters: only real tokens of real steps
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failed()
            step = num_tokens = 0
        started = now()
        if ranges:  # an NVTX range "execute_model", payload the step number
            range_push("execute_model", step)
            try:
                result = original(*args, **kwargs)
            finally:
                range_pop()
        else:
            result = original(*args, **kwargs)
        if num_tokens:  # an empty step runs no forward pass
            try:
                ended = now()
                if begin is None:  # no GPU time to wait for: record now
                    native.forward_pass(
                        t_ns=started,
                        step=step,
                        phase=phase,
                        batch_size=num_reqs,
                        num_tokens=num_tokens,
                        duration_ns=ended - started,
                    )
                else:
                    fields = {
                        "t_ns": started,
                        "step": step,
                        "phase": phase,
                        "batch_size": num_reqs,
                        "num_tokens": num_tokens,
                        "duration_ns": ended - started,
                    }
                    timer.stop(begin, fields)
                    timer.poll()  # regions are pending only where they have begun
                moe.after_forward(step)
                if ended >= next_write_ns[0]:
                    cuda_graphs.write_replay_counts(ended)
            except Exception:  # noqa: BLE001
                recording.failed()
        return result

    return execute_model


def _cpu_operation(name: str, context: Callable[[tuple[Any, ...], dict[str, Any], Any], str] | None = None) -> Wrapper:
    """A wrapper that records the call's CPU time as `model_runner.<name>`, with the context that
    `context` makes of the call (none without it: a call less, in a hook that runs every step)."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        native = recording.native()
        now = native.now
        operation = f"model_runner.{name}"

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            started = now()
            result = original(self, *args, **kwargs)
            try:
                ended = now()
                native.cpu_operation(
                    t_ns=started,
                    step=steps.executed_count(),
                    operation=operation,
                    duration_ns=ended - started,
                    context=context(args, kwargs, result) if context else "",
                )
            except Exception:  # noqa: BLE001
                recording.failed()
            return result

        return timed

    return wrap


def _dummy_run_context(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return f"num_tokens={args[0] if args else kwargs.get('num_tokens', '')}"


def _capture_context(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> str:
    return f"graph_memory_bytes={result}" if isinstance(result, int) else ""


def _targets(component: str, module: str) -> list[PatchTarget]:
    return [
        PatchTarget(
            component, module, "GPUModelRunner.execute_model", wrap_execute_model, required_params=("scheduler_output",)
        ),
        PatchTarget(component, module, "GPUModelRunner.sample_tokens", _cpu_operation("sample_tokens")),
        PatchTarget(
            component,
            module,
            "GPUModelRunner._dummy_run",
            _cpu_operation("dummy_run", _dummy_run_context),
            required_params=("num_tokens",),
        ),
        PatchTarget(
            component, module, "GPUModelRunner.capture_model", _cpu_operation("capture_model", _capture_context)
        ),
    ]


TARGETS = [
    *_targets("GPUModelRunner", "vllm.v1.worker.gpu_model_runner"),
    *_targets("GPUModelRunner (V2)", "vllm.v1.worker.gpu.model_runner"),
]
