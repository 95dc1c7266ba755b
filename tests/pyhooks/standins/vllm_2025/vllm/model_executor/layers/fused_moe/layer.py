"""Stand-in for vllm/model_executor/layers/fused_moe/layer.py in Nov 2025: the FusedMoE layer;
forward -> moe_forward(hidden_states, router_logits, layer_name) -> forward_impl, which selects
experts with its own select_experts (returning a third value, the zero-expert result) or, on the
CPU, through the CPU fused MoE, which routes with cpu_fused_moe's select_experts."""

from __future__ import annotations

from typing import Any

import standin_moe

from vllm.model_executor.layers.fused_moe.cpu_fused_moe import CPUFusedMOE

_LAYERS: dict[str, FusedMoE] = {}


def moe_forward(hidden_states: Any, router_logits: Any, layer_name: str) -> Any:
    return _LAYERS[layer_name].forward_impl(hidden_states, router_logits)


class FusedMoE:
    def __init__(self, num_experts: int, top_k: int, prefix: str, cpu: bool = False) -> None:
        self.layer_name = prefix
        self.global_num_experts = num_experts
        self.top_k = top_k
        self.cpu_fused_moe = CPUFusedMOE() if cpu else None
        _LAYERS[prefix] = self

    def forward(self, hidden_states: Any, router_logits: Any) -> Any:
        return moe_forward(hidden_states, router_logits, self.layer_name)

    def forward_impl(self, hidden_states: Any, router_logits: Any) -> Any:
        with standin_moe.entered(self.layer_name):
            if self.cpu_fused_moe is not None:
                return self.cpu_fused_moe(self, hidden_states, False, self.top_k, router_logits, True)
            topk_weights, _, _ = self.select_experts(hidden_states, router_logits)
            return standin_moe.mix(hidden_states, topk_weights)

    def select_experts(self, hidden_states: Any, router_logits: Any) -> tuple[Any, Any, Any]:
        topk_weights, topk_ids = standin_moe.route(router_logits, self.top_k)
        return topk_weights, topk_ids, None
