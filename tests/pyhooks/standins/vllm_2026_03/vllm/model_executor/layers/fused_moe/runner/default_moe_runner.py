"""Stand-in for vllm/model_executor/layers/fused_moe/runner/default_moe_runner.py (2026-02 to
2026-04): the FusedMoE layer owns a DefaultMoERunner; forward -> forward_dispatch(layer, ...) ->
forward_impl(layer, ...) -> the router's select_experts, or the quant method's apply_monolithic."""

from __future__ import annotations

from typing import Any

import standin_moe

from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner


class DefaultMoERunner(MoERunner):
    def __init__(self, layer: Any, router: Any, quant_method: Any) -> None:
        self.router = router
        self.quant_method = quant_method
        self.layer_name = layer.layer_name
        self.layer = layer

    def forward(self, hidden_states: Any, router_logits: Any) -> Any:
        return self.forward_dispatch(self.layer, hidden_states, router_logits, None)

    def forward_dispatch(self, layer: Any, hidden_states: Any, router_logits: Any, shared_experts_input: Any) -> Any:
        return self.forward_impl(layer, hidden_states, router_logits, shared_experts_input)

    def forward_impl(self, layer: Any, hidden_states: Any, router_logits: Any, shared_experts_input: Any) -> Any:
        with standin_moe.entered(self.layer_name):
            if self.quant_method.is_monolithic:
                return self.quant_method.apply_monolithic(layer=layer, x=hidden_states, router_logits=router_logits)
            topk_weights, _ = self.router.select_experts(hidden_states=hidden_states, router_logits=router_logits)
            return standin_moe.mix(hidden_states, topk_weights)
