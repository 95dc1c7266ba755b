"""Stand-in for vllm/v1/worker/gpu_model_runner.py (the V1 runner)."""

from standin_runners import GPUModelRunner

__all__ = ["GPUModelRunner"]
