"""Stand-in for vllm/v1/worker/gpu/model_runner.py (the V2 runner: the same class name)."""

from standin_runners import GPUModelRunnerV2 as GPUModelRunner

__all__ = ["GPUModelRunner"]
