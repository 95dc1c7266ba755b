"""The patches, one module per vLLM component; `all_targets()` is the registry's content."""

from __future__ import annotations

from ..registry import PatchTarget
from . import block_pool, cuda_graphs, preemption, scheduler


def all_targets() -> list[PatchTarget]:
    return [*scheduler.TARGETS, *preemption.TARGETS, *block_pool.TARGETS, *cuda_graphs.TARGETS]
