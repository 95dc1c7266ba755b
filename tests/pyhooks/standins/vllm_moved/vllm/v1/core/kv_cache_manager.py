"""Stand-in for vllm/v1/core/kv_cache_manager.py."""

from standin_parts import KVCacheManager

__all__ = ["KVCacheManager"]
