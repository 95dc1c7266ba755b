"""Stand-in for vllm/model_executor/layers/fused_moe/experts/zentorch_moe.py: monolithic CPU
experts that route inside through the CPU routing function, imported by name at module import."""

from __future__ import annotations

from typing import Any

import standin_moe

from vllm.model_executor.layers.fused_moe.router.cpu_router import select_experts


class ZentorchExperts:
    is_monolithic = True

    def __init__(self, top_k: int) -> None:
        self.top_k = top_k

    def forward_monolithic(self, x: Any, router_logits: Any, input_ids: Any = None) -> Any:
        topk_weights, _ = select_experts(
            hidden_states=x,
            router_logits=router_logits,
            top_k=self.top_k,
            use_grouped_topk=False,
            renormalize=True,
            input_ids=input_ids,
        )
        return standin_moe.mix(x, topk_weights)
