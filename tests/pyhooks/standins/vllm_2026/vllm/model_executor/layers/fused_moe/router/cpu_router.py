"""Stand-in for vllm/model_executor/layers/fused_moe/router/cpu_router.py: the CPU routing
function, which monolithic CPU experts import by name, and a CPU router that routes through it
(a selection nested in another)."""

from __future__ import annotations

from typing import Any

import standin_moe

from vllm.model_executor.layers.fused_moe.router.fused_moe_router import FusedMoERouter

select_experts = standin_moe.cpu_select_experts


class CPURouter(FusedMoERouter):
    def _select_experts(
        self, hidden_states: Any, router_logits: Any, topk_indices_dtype: Any = None, *, input_ids: Any = None
    ) -> tuple[Any, Any]:
        return select_experts(
            hidden_states=hidden_states,
            router_logits=router_logits,
            top_k=self.top_k,
            use_grouped_topk=False,
            renormalize=True,
            input_ids=input_ids,
        )
