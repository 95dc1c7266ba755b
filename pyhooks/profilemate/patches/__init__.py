"""The patches, one module per vLLM component; `all_targets()` is the registry's content."""

from __future__ import annotations

from ..registry import PatchTarget
from . import block_pool, cuda_graphs, encoder, kv_cache_manager, model_runner, moe, preemption, scheduler, shutdown


def all_targets() -> list[PatchTarget]:
    return [
        *scheduler.TARGETS,
        *preemption.TARGETS,
        *kv_cache_manager.TARGETS,
        *block_pool.TARGETS,
        *model_runner.TARGETS,
        *encoder.TARGETS,
        *cuda_graphs.TARGETS,
        *moe.TARGETS,
        *shutdown.TARGETS,
    ]
