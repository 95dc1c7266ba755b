"""Encoder execution (multimodal and encoder-decoder models): one encoder_timing row per call
of the V1 runner's _execute_mm_encoder or the V2 EncoderRunner.execute_mm_encoder, with its CPU
time and its GPU time from CUDA events resolved later without a sync. vLLM's own encoder timing
synchronises the device and is only on with --enable-mm-processor-stats; this is neither."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget
from . import recording, steps
from .cuda_events import GpuTimer


def wrap_encoder(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()
    now = native.now
    timer = GpuTimer(lambda fields, gpu_ns: native.encoder_timing(**fields, gpu_duration_ns=gpu_ns))
    recording.on_exit(timer.drain)

    def execute_mm_encoder(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            begin = timer.start()
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failed()
            begin = None
        started = now()
        outputs = original(self, *args, **kwargs)
        try:
            ended = now()
            count = len(outputs) if isinstance(outputs, list) else 0
            fields = {
                "t_ns": started,
                "step": steps.executed_count(),
                "component": "encoder",
                "duration_ns": ended - started,
                "context": f"outputs={count}",
            }
            timer.stop(begin, fields)
            timer.poll()
        except Exception:  # noqa: BLE001
            recording.failed()
        return outputs

    return execute_mm_encoder


TARGETS = [
    PatchTarget(
        "Encoder",
        "vllm.v1.worker.gpu_model_runner",
        "GPUModelRunner._execute_mm_encoder",
        wrap_encoder,
        required_params=("scheduler_output",),
    ),
    PatchTarget(
        "Encoder (V2)", "vllm.v1.worker.gpu.mm.encoder_runner", "EncoderRunner.execute_mm_encoder", wrap_encoder
    ),
]
