"""Stand-in for vllm/v1/core/block_pool.py."""

from standin_parts import BlockPool, KVCacheBlock

__all__ = ["BlockPool", "KVCacheBlock"]
