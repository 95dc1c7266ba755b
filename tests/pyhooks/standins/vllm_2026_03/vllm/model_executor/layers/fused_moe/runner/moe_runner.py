"""Stand-in for vllm/model_executor/layers/fused_moe/runner/moe_runner.py between 2026-02 and
2026-04: only the abstract MoERunner, without _forward_impl."""

from abc import ABC, abstractmethod
from typing import Any


class MoERunner(ABC):
    @abstractmethod
    def forward(self, hidden_states: Any, router_logits: Any) -> Any:
        raise NotImplementedError
