"""Stand-in for vllm/model_executor/layers/fused_moe/runner/moe_runner.py (2026): MoERunner is the
layer object. forward -> _moe_forward (plain Python, as on the CPU; a custom op on CUDA) -> the
layer registered under its name -> _forward_impl, which selects experts through the router
(modular experts) or hands the logits to monolithic experts that route inside."""

from __future__ import annotations

from typing import Any

import standin_moe

from vllm.model_executor.layers.fused_moe.router.fused_moe_router import FusedMoERouter

_LAYERS: dict[str, MoERunner] = {}  # vLLM's static_forward_context


def _moe_forward(
    hidden_states: Any, router_logits: Any, shared_experts_input: Any, input_ids: Any, layer_name: str
) -> Any:
    return _LAYERS[layer_name]._forward_impl(hidden_states, router_logits, shared_experts_input, input_ids)


class MoERunner:
    def __init__(
        self, layer_name: str, num_experts: int, top_k: int, routed_experts: Any = None, router: Any = None
    ) -> None:
        self.layer_name = layer_name
        self.moe_config = standin_moe.MoEConfig(num_experts, top_k)
        self.router = router if router is not None else FusedMoERouter(top_k, num_experts)
        self.routed_experts = routed_experts if routed_experts is not None else standin_moe.ModularExperts()
        _LAYERS[layer_name] = self

    def forward(
        self, hidden_states: Any, router_logits: Any, input_ids: Any = None, shared_experts_input: Any = None
    ) -> Any:
        return _moe_forward(hidden_states, router_logits, shared_experts_input, input_ids, self.layer_name)

    def _forward_impl(
        self, hidden_states: Any, router_logits: Any, shared_experts_input: Any, input_ids: Any = None
    ) -> Any:
        with standin_moe.entered(self.layer_name):
            if self.routed_experts.is_monolithic:
                return self.routed_experts.forward_monolithic(
                    x=hidden_states, router_logits=router_logits, input_ids=input_ids
                )
            topk_weights, _ = self.router.select_experts(
                hidden_states=hidden_states, router_logits=router_logits, topk_indices_dtype=None, input_ids=input_ids
            )
            return standin_moe.mix(hidden_states, topk_weights)
