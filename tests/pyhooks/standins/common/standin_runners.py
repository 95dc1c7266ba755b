"""Stand-ins for vLLM's model runners, the V2 runner's CUDA graph manager and encoder runner
(written for ProfileMate's tests, no vLLM code): the names and signatures the hooks use, and
calls that record what happened so tests can compare."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import standin_parts


class GPUModelRunner:
    """V1 (vllm/v1/worker/gpu_model_runner.py): execute_model launches and returns None;
    sample_tokens returns the output."""

    def __init__(self) -> None:
        self.executed: list[int] = []  # total_num_scheduled_tokens of each execute_model
        self.pending = None

    def execute_model(self, scheduler_output, intermediate_tensors=None):
        if scheduler_output.total_num_scheduled_tokens == 0:
            return "EMPTY_MODEL_RUNNER_OUTPUT"
        if getattr(scheduler_output, "scheduled_encoder_inputs", None):
            self._execute_mm_encoder(scheduler_output)
        self.executed.append(scheduler_output.total_num_scheduled_tokens)
        self.pending = scheduler_output
        return None

    def sample_tokens(self, grammar_output):
        output, self.pending = self.pending, None
        return {"sampled": len(output.num_scheduled_tokens) if output else 0}

    def _execute_mm_encoder(self, scheduler_output) -> list:
        inputs = sum(len(ids) for ids in scheduler_output.scheduled_encoder_inputs.values())
        return [f"embedding-{i}" for i in range(inputs)]

    def _dummy_run(
        self,
        num_tokens: int,
        cudagraph_runtime_mode=None,
        force_attention: bool = False,
        uniform_decode: bool = False,
        is_profile: bool = False,
    ):
        return num_tokens

    def capture_model(self) -> int:
        return 4096


class GPUModelRunnerV2(GPUModelRunner):
    """V2 (vllm/v1/worker/gpu/model_runner.py, exported there as GPUModelRunner)."""

    def execute_model(
        self,
        scheduler_output,
        intermediate_tensors=None,
        dummy_run: bool = False,
        skip_attn_for_dummy_run: bool = False,
        is_profile: bool = False,
        context_len: int = 0,
    ):
        return super().execute_model(scheduler_output, intermediate_tensors)

    def _dummy_run(self, num_tokens: int, *args, skip_attn: bool = False, uniform_decode: bool = False, **kwargs):
        return num_tokens

    def capture_model(self, *, profile_only: bool = False) -> int:
        return 2048


@dataclass(frozen=True)
class BatchExecutionDescriptor:
    cg_mode: standin_parts.CUDAGraphMode
    num_tokens: int
    num_reqs: int | None
    uniform_token_count: int | None = None
    max_query_len: int | None = None
    num_active_loras: int = 0
    num_ubatches: int = 1


class CudaGraphManager:
    """Captures each descriptor's FULL graph right after create_forward_fn(desc, warmup=False),
    as vLLM does; run_fullgraph replays without running the forward's Python."""

    capturing = contextlib.nullcontext  # a test may swap in something that observes the capture

    def __init__(self, descs: list[BatchExecutionDescriptor]) -> None:
        self.descs = descs
        self.graphs: dict[BatchExecutionDescriptor, object] = {}
        self.replays = 0

    def capture(self, create_forward_fn, progress_bar_desc: str = "Capturing CUDA graphs") -> None:
        for desc in self.descs:
            create_forward_fn(desc, warmup=True)(standin_parts.CUDAGraphMode.NONE)
            forward_fn = create_forward_fn(desc, warmup=False)
            with self.capturing():
                forward_fn(standin_parts.CUDAGraphMode.NONE)
            self.graphs[desc] = object()

    def run_fullgraph(self, desc: BatchExecutionDescriptor):
        assert desc in self.graphs, f"No cudagraph for {desc}"
        self.replays += 1
        return desc.num_tokens


class EncoderRunner:
    def execute_mm_encoder(self, mm_kwargs: list) -> list:
        return [f"embedding-{i}" for i, _ in enumerate(mm_kwargs)]

    def get_encoder_timing_stats(self) -> list:
        return standin_parts._drain("EncoderRunner.get_encoder_timing_stats")
