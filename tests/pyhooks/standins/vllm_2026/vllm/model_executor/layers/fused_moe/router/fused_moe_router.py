"""Stand-in for vllm/model_executor/layers/fused_moe/router/fused_moe_router.py."""

from standin_moe import FusedMoERouter

__all__ = ["FusedMoERouter"]
