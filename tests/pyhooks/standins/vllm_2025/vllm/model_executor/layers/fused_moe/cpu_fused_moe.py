"""Stand-in for vllm/model_executor/layers/fused_moe/cpu_fused_moe.py in Nov 2025: the CPU fused
MoE routes with this module's select_experts (looked up in this module's globals)."""

from __future__ import annotations

from typing import Any

import standin_moe

select_experts = standin_moe.cpu_select_experts


class CPUFusedMOE:
    def __call__(
        self, layer: Any, x: Any, use_grouped_topk: bool, top_k: int, router_logits: Any, renormalize: bool
    ) -> Any:
        topk_weights, _ = select_experts(
            hidden_states=x,
            router_logits=router_logits,
            top_k=top_k,
            use_grouped_topk=use_grouped_topk,
            renormalize=renormalize,
        )
        return standin_moe.mix(x, topk_weights)
