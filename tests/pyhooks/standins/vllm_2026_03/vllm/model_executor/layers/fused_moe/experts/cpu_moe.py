"""Stand-in for vllm/model_executor/layers/fused_moe/experts/cpu_moe.py: monolithic CPU experts
whose _select_experts calls this module's routing function (looked up in this module's globals)."""

from __future__ import annotations

from typing import Any

import standin_moe

select_experts = standin_moe.cpu_select_experts


class CPUUnquantizedExperts:
    is_monolithic = True

    def apply_monolithic(self, layer: Any, x: Any, router_logits: Any) -> Any:
        topk_weights, _ = self._select_experts(layer, x, router_logits)
        return standin_moe.mix(x, topk_weights)

    def _select_experts(self, layer: Any, x: Any, router_logits: Any) -> tuple[Any, Any]:
        return select_experts(
            hidden_states=x, router_logits=router_logits, top_k=layer.top_k, use_grouped_topk=False, renormalize=True
        )
