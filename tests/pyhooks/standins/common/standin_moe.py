"""Stand-in MoE pieces shared by the stand-in vLLM packages (written for ProfileMate's tests, no
vLLM code): softmax top-k routing that logs every selection it makes, so that tests can compute
reference counts, and a trivial expert mix. The era packages put routers, runners and layers
under vLLM's module paths with each era's call shapes; a function vLLM imports by name is defined
(or imported) in the module that calls it, as in vLLM. torch is imported inside the functions:
the packages must import without it (diagnose, the invariant tests)."""

from __future__ import annotations

from typing import Any

# (layer name, topk_ids) of every routing, in order; the layer name is the one whose forward ran.
SELECTED: list[tuple[str, Any]] = []
current_layer = ""


def route(router_logits: Any, top_k: int) -> tuple[Any, Any]:
    import torch

    weights, ids = torch.topk(torch.softmax(router_logits.float(), dim=-1), top_k, dim=-1)
    SELECTED.append((current_layer, ids.clone()))
    return weights, ids.to(torch.int32)


def mix(hidden_states: Any, topk_weights: Any) -> Any:
    return hidden_states * topk_weights.sum(dim=-1, keepdim=True).to(hidden_states.dtype)


class entered:
    """Names the layer whose forward runs, for the selection log."""

    def __init__(self, layer_name: str) -> None:
        self.layer_name = layer_name

    def __enter__(self) -> None:
        global current_layer
        self.outer, current_layer = current_layer, self.layer_name

    def __exit__(self, *exc: object) -> None:
        global current_layer
        current_layer = self.outer


class FusedMoERouter:
    """router/fused_moe_router.py (2026): the public select_experts over the abstract
    _select_experts; returns (topk_weights, topk_ids)."""

    def __init__(self, top_k: int, global_num_experts: int) -> None:
        self.top_k = top_k
        self.global_num_experts = global_num_experts

    def select_experts(
        self, hidden_states: Any, router_logits: Any, topk_indices_dtype: Any = None, *, input_ids: Any = None
    ) -> tuple[Any, Any]:
        return self._select_experts(hidden_states, router_logits, topk_indices_dtype, input_ids=input_ids)

    def _select_experts(
        self, hidden_states: Any, router_logits: Any, topk_indices_dtype: Any = None, *, input_ids: Any = None
    ) -> tuple[Any, Any]:
        weights, ids = route(router_logits, self.top_k)
        return weights, ids if topk_indices_dtype is None else ids.to(topk_indices_dtype)


class MoEConfig:
    def __init__(self, num_experts: int, experts_per_token: int) -> None:
        self.num_experts = num_experts
        self.experts_per_token = experts_per_token


class ModularExperts:
    is_monolithic = False


def cpu_select_experts(
    hidden_states: Any,
    router_logits: Any,
    top_k: int,
    use_grouped_topk: bool,
    renormalize: bool,
    topk_group: int | None = None,
    num_expert_group: int | None = None,
    custom_routing_function: Any = None,
    scoring_func: str = "softmax",
    routed_scaling_factor: float = 1.0,
    e_score_correction_bias: Any = None,
    input_ids: Any = None,
) -> tuple[Any, Any]:
    """The CPU routing function's signature; each era's module defines its select_experts with it."""
    return route(router_logits, top_k)
