"""BlockPool: the life of each KV cache block, for kv_cache_evictions.csv. A block's allocation
and last use are remembered (one entry per block of the pool: bounded); when
_maybe_evict_cached_block reports a real eviction, its lifetime and idle time are recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..registry import PatchTarget
from . import recording

_allocated_ns: dict[int, int] = {}
_last_used_ns: dict[int, int] = {}


def _stamp(blocks: Iterable[Any], table: dict[int, int], t_ns: int) -> None:
    for block in blocks:
        table[block.block_id] = t_ns


def wrap_get_new_blocks(original: Callable[..., Any]) -> Callable[..., Any]:
    now = recording.native().now

    # (self, num_blocks) as one tuple, passed on as it came: naming self would copy the arguments.
    def get_new_blocks(*args: Any, **kwargs: Any) -> Any:
        blocks = original(*args, **kwargs)  # evicts cached blocks on the way
        try:
            t_ns = now()
            for block in blocks:
                block_id = block.block_id
                _allocated_ns[block_id] = _last_used_ns[block_id] = t_ns
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failed()
        return blocks

    return get_new_blocks


def wrap_last_use(original: Callable[..., Any]) -> Callable[..., Any]:
    """touch (a prefix-cache hit) and free_blocks (a release): the block's last use."""
    now = recording.native().now

    def last_use(self: Any, blocks: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if type(blocks) is not list:
                # free_blocks takes any iterable, and vLLM passes one-shot iterators (reversed(...)):
                # read it once, for both of us, or vLLM would free nothing.
                blocks = list(blocks)
            _stamp(blocks, _last_used_ns, now())
        except Exception:  # noqa: BLE001
            recording.failed()
        return original(self, blocks, *args, **kwargs)

    return last_use


def wrap_maybe_evict(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()

    def _maybe_evict_cached_block(self: Any, block: Any, *args: Any, **kwargs: Any) -> Any:
        evicted = original(self, block, *args, **kwargs)
        if evicted is True:
            try:
                t_ns = native.now()
                block_id = block.block_id
                native.kv_eviction(
                    t_ns=t_ns,
                    block_id=block_id,
                    lifetime_ns=t_ns - _allocated_ns.get(block_id, t_ns),
                    idle_ns=t_ns - _last_used_ns.get(block_id, t_ns),
                )
            except Exception:  # noqa: BLE001
                recording.failed()
        return evicted

    return _maybe_evict_cached_block


_MODULE = "vllm.v1.core.block_pool"
TARGETS = [
    PatchTarget("BlockPool", _MODULE, "BlockPool.get_new_blocks", wrap_get_new_blocks, required_params=("num_blocks",)),
    PatchTarget("BlockPool", _MODULE, "BlockPool.touch", wrap_last_use),
    PatchTarget("BlockPool", _MODULE, "BlockPool.free_blocks", wrap_last_use),
    PatchTarget(
        "BlockPool", _MODULE, "BlockPool._maybe_evict_cached_block", wrap_maybe_evict, required_params=("block",)
    ),
]
