"""Stand-in for vllm/v1/core/kv_cache_manager.py, which imports the block pool as vLLM does."""

from standin_parts import KVCacheManager2026 as KVCacheManager

import vllm.v1.core.block_pool  # noqa: F401

__all__ = ["KVCacheManager"]
