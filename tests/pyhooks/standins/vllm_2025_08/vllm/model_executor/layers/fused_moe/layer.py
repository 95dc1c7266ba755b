"""Stand-in for vllm/model_executor/layers/fused_moe/layer.py in Aug 2025: select_experts is a
staticmethod taking the routing parameters; vLLM calls it through the class, and this stand-in
also through the layer, which breaks if the staticmethod is replaced by a plain function."""

from __future__ import annotations

from typing import Any

import standin_moe


class FusedMoE:
    def __init__(self, num_experts: int, top_k: int, prefix: str) -> None:
        self.layer_name = prefix
        self.global_num_experts = num_experts
        self.top_k = top_k

    def forward(self, hidden_states: Any, router_logits: Any) -> Any:
        return self.forward_impl(hidden_states, router_logits)

    def forward_impl(self, hidden_states: Any, router_logits: Any) -> Any:
        with standin_moe.entered(self.layer_name):
            topk_weights, _ = self.select_experts(
                hidden_states=hidden_states,
                router_logits=router_logits,
                top_k=self.top_k,
                use_grouped_topk=False,
                renormalize=True,
            )
            return standin_moe.mix(hidden_states, topk_weights)

    @staticmethod
    def select_experts(
        hidden_states: Any,
        router_logits: Any,
        top_k: int,
        use_grouped_topk: bool,
        renormalize: bool,
        topk_group: int | None = None,
        num_expert_group: int | None = None,
        enable_eplb: bool = False,
        expert_load_view: Any = None,
    ) -> tuple[Any, Any]:
        return standin_moe.route(router_logits, top_k)
