"""Stand-in for vllm/model_executor/layers/fused_moe/layer.py between 2026-02 and 2026-04: the
FusedMoE layer delegates to its DefaultMoERunner (no forward_impl or select_experts of its own)."""

from __future__ import annotations

from typing import Any

import standin_moe

from vllm.model_executor.layers.fused_moe.experts.cpu_moe import CPUUnquantizedExperts
from vllm.model_executor.layers.fused_moe.router.fused_moe_router import FusedMoERouter
from vllm.model_executor.layers.fused_moe.runner.default_moe_runner import DefaultMoERunner


class FusedMoE:
    def __init__(self, num_experts: int, top_k: int, prefix: str, cpu: bool = False) -> None:
        self.layer_name = prefix
        self.global_num_experts = num_experts
        self.top_k = top_k
        quant_method = CPUUnquantizedExperts() if cpu else standin_moe.ModularExperts()
        self.runner = DefaultMoERunner(self, FusedMoERouter(top_k, num_experts), quant_method)

    def forward(self, hidden_states: Any, router_logits: Any) -> Any:
        return self.runner.forward(hidden_states, router_logits)
