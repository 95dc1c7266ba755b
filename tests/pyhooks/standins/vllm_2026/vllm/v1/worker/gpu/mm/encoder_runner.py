"""Stand-in for vllm/v1/worker/gpu/mm/encoder_runner.py."""

from standin_runners import EncoderRunner

__all__ = ["EncoderRunner"]
