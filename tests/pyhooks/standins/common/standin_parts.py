"""Parts shared by the stand-in vLLM packages (written for ProfileMate's tests, no vLLM code):
the SchedulerOutput fields, BlockPool and KVCacheManager that ProfileMate reads, and a
deterministic batch plan. Each era's package re-exports them under vLLM's module paths."""

from __future__ import annotations

import contextlib
import enum
from collections import deque
from dataclasses import dataclass, field

# vLLM's getters that return and reset state: a hook that called one would change vLLM's own
# metrics. The stand-ins log every call here.
DRAINED: list[str] = []


def _drain(name: str) -> list:
    DRAINED.append(name)
    return []


@dataclass
class NewRequestData:
    req_id: str


@dataclass
class CachedRequestData:
    req_ids: list = field(default_factory=list)
    num_output_tokens: list = field(default_factory=list)


@dataclass
class SchedulerOutput:
    scheduled_new_reqs: list = field(default_factory=list)
    num_scheduled_tokens: dict = field(default_factory=dict)
    total_num_scheduled_tokens: int = 0
    scheduled_cached_reqs: CachedRequestData = field(default_factory=CachedRequestData)


@dataclass
class KVCacheBlock:
    block_id: int
    ref_cnt: int = 0
    block_hash: int | None = None


class BlockPool:
    """Block 0 is the null block, as in vLLM. Freed blocks with a prefix-cache hash go to the tail
    of the free queue (LRU); allocating one of them evicts it."""

    def __init__(self, num_gpu_blocks: int) -> None:
        self.num_gpu_blocks = num_gpu_blocks
        self.blocks = [KVCacheBlock(i) for i in range(min(num_gpu_blocks, 100_000))]
        self.free_ids = deque(range(1, len(self.blocks)))
        self.untracked_free = num_gpu_blocks - len(self.blocks)  # huge pools: counted, not built

    def take_events(self) -> list:
        return _drain("BlockPool.take_events")

    def get_num_free_blocks(self) -> int:
        return len(self.free_ids) + self.untracked_free

    def get_usage(self) -> float:
        return 1.0 - self.get_num_free_blocks() / (self.num_gpu_blocks - 1)

    def get_new_blocks(self, num_blocks: int) -> list[KVCacheBlock]:
        taken = [self.blocks[self.free_ids.popleft()] for _ in range(min(num_blocks, len(self.free_ids)))]
        for block in taken:
            self._maybe_evict_cached_block(block)
            block.ref_cnt = 1
        return taken

    def _maybe_evict_cached_block(self, block: KVCacheBlock) -> bool:
        if block.block_hash is None:
            return False
        block.block_hash = None
        return True

    def cache_full_blocks(self, blocks: list[KVCacheBlock]) -> None:
        for block in blocks:
            block.block_hash = hash(("prefix", block.block_id))

    def touch(self, blocks: list[KVCacheBlock]) -> None:
        for block in blocks:
            if block.ref_cnt == 0:
                self.free_ids.remove(block.block_id)
            block.ref_cnt += 1

    def free_blocks(self, ordered_blocks: list[KVCacheBlock]) -> None:
        for block in ordered_blocks:
            block.ref_cnt -= 1
            if block.ref_cnt == 0:
                self.free_ids.append(block.block_id)


class RequestStatus(enum.Enum):
    RUNNING = 1
    PREEMPTED = 2


@dataclass
class Request:
    request_id: str
    num_computed_tokens: int
    arrival_time: float
    blocks: list = field(default_factory=list)
    priority: int = 0
    num_preemptions: int = 0
    num_tokens: int = 0
    cached_tokens: int = 0  # what a prefix-cache lookup finds
    skip_reading_prefix_cache: bool = False
    status: RequestStatus = RequestStatus.RUNNING


class KVCacheManager:
    BLOCK_SIZE = 16

    def __init__(self, num_gpu_blocks: int, enable_caching: bool = True) -> None:
        self.block_pool = BlockPool(num_gpu_blocks)
        self.enable_caching = enable_caching
        self.lookups: list[tuple[int, int]] = []  # (tokens, hits), as vLLM's PrefixCacheStats records them

    @property
    def usage(self) -> float:
        return self.block_pool.get_usage()

    def make_prefix_cache_stats(self) -> list:
        return _drain("KVCacheManager.make_prefix_cache_stats")

    def take_events(self) -> list:
        return _drain("KVCacheManager.take_events")

    def take_new_block_ids(self) -> list:
        return _drain("KVCacheManager.take_new_block_ids")

    def get_computed_blocks(self, request: Request) -> tuple[list, int]:
        """vLLM before Jul 2026: a 2-tuple, and the lookup counted here."""
        if not self.enable_caching or request.skip_reading_prefix_cache:
            return [], 0
        self.lookups.append((request.num_tokens, request.cached_tokens))
        return [], request.cached_tokens

    def allocate_slots(
        self,
        request: Request,
        num_new_tokens: int,
        num_new_computed_tokens: int = 0,
        new_computed_blocks=None,
        num_lookahead_tokens: int = 0,
        num_external_computed_tokens: int = 0,
        delay_cache_blocks: bool = False,
    ) -> list[KVCacheBlock] | None:
        needed = -(-num_new_tokens // self.BLOCK_SIZE)
        if needed > self.block_pool.get_num_free_blocks():
            return None  # no room: the scheduler preempts or waits
        blocks = self.block_pool.get_new_blocks(needed)
        request.blocks += blocks
        return blocks

    def free(self, request: Request) -> None:
        self.block_pool.free_blocks(request.blocks)
        request.blocks = []


class KVCacheManager2026(KVCacheManager):
    """Since Jul 2026: a 3-tuple, and the lookup counted by the scheduler at admission."""

    def get_computed_blocks(self, request: Request, max_cache_hit_length: int | None = None) -> tuple[list, int, int]:
        if not self.enable_caching or request.skip_reading_prefix_cache:
            return [], 0, 0
        return [], request.cached_tokens, 0

    def record_prefix_cache_stats(self, request: Request, num_hits: int) -> None:
        if self.enable_caching and not request.skip_reading_prefix_cache:
            self.lookups.append((request.num_tokens, num_hits))


class BatchPlan:
    """Step n admits request n as a prefill of 100 + n tokens while the n - 1 others decode one
    token each; 5 - n % 5 requests wait; 7 more KV blocks are used per step."""

    def _start_plan(self, num_gpu_blocks: int, manager: type[KVCacheManager] = KVCacheManager) -> None:
        self.kv_cache_manager = manager(num_gpu_blocks)
        self.running: list[str] = []
        self.waiting: list[str] = []
        self.steps = 0
        self.preempt_in_next_step: Request | None = None

    def _form_batch(self) -> SchedulerOutput:
        self.steps += 1
        new = f"req-{self.steps}"
        output = SchedulerOutput(scheduled_new_reqs=[NewRequestData(new)])
        for request_id in self.running:
            output.num_scheduled_tokens[request_id] = 1
        output.num_scheduled_tokens[new] = 100 + self.steps
        output.total_num_scheduled_tokens = sum(output.num_scheduled_tokens.values())
        self.running.append(new)
        self.waiting = [f"waiting-{i}" for i in range(5 - self.steps % 5)]
        pool = self.kv_cache_manager.block_pool
        if pool.free_ids:
            pool.get_new_blocks(7)
        else:
            pool.untracked_free -= 7
        if self.preempt_in_next_step is not None:  # allocation failed for a running request
            self._preempt(self.preempt_in_next_step)
            self.preempt_in_next_step = None
        return output


class PreemptsByMethod:
    """Preemption through Scheduler._preempt_request (vLLM since Dec 2025)."""

    def _preempt(self, request: Request) -> None:
        self._preempt_request(request, 0.0)

    def _preempt_request(self, request: Request, timestamp: float) -> None:
        self.kv_cache_manager.block_pool.free_blocks(request.blocks)
        request.blocks = []
        request.num_computed_tokens = 0
        request.num_preemptions += 1


class PreemptsInline:
    """Preemption written out inside schedule() (vLLM before Dec 2025): the KV cache manager
    frees the request's blocks, then its status and computed tokens are reset."""

    def _preempt(self, request: Request) -> None:
        self.kv_cache_manager.free(request)
        request.status = RequestStatus.PREEMPTED
        request.num_computed_tokens = 0
        request.num_preemptions += 1


# --- CUDA graphs: vllm/config/compilation.py, vllm/forward_context.py, vllm/compilation/cuda_graph.py


class CUDAGraphMode(enum.Enum):
    NONE = 0
    PIECEWISE = 1
    FULL = 2


@dataclass(frozen=True)
class BatchDescriptor:
    num_tokens: int
    num_reqs: int | None = None
    uniform: bool = False
    has_lora: bool = False


@dataclass
class ForwardContext:
    cudagraph_runtime_mode: CUDAGraphMode = CUDAGraphMode.NONE
    batch_descriptor: BatchDescriptor | None = None


_forward_context: ForwardContext | None = None


def is_forward_context_available() -> bool:
    return _forward_context is not None


def get_forward_context() -> ForwardContext:
    assert _forward_context is not None, "no forward context"
    return _forward_context


@contextlib.contextmanager
def set_forward_context(mode: CUDAGraphMode, descriptor: BatchDescriptor | None):
    global _forward_context
    _forward_context = ForwardContext(mode, descriptor)
    try:
        yield
    finally:
        _forward_context = None


@dataclass
class CUDAGraphEntry:
    batch_descriptor: BatchDescriptor
    cudagraph: object | None = None
    output: object | None = None


class CUDAGraphWrapper:
    """Captures on the first call for a batch descriptor (running the wrapped callable, as a
    torch.cuda.graph capture does) and replays afterwards WITHOUT running the inner Python."""

    def __init__(
        self, runnable, vllm_config=None, runtime_mode: CUDAGraphMode = CUDAGraphMode.FULL, cudagraph_options=None
    ) -> None:
        self.runnable = runnable
        self.runtime_mode = runtime_mode
        self.concrete_cudagraph_entries: dict[BatchDescriptor, CUDAGraphEntry] = {}
        self.replays = 0

    def __call__(self, *args, **kwargs):
        if not is_forward_context_available():
            return self.runnable(*args, **kwargs)
        context = get_forward_context()
        descriptor = context.batch_descriptor
        if (
            context.cudagraph_runtime_mode in (CUDAGraphMode.NONE,)
            or context.cudagraph_runtime_mode != self.runtime_mode
        ):
            return self.runnable(*args, **kwargs)
        entry = self.concrete_cudagraph_entries.setdefault(descriptor, CUDAGraphEntry(descriptor))
        if entry.cudagraph is None:
            entry.output = self.runnable(*args, **kwargs)  # "capture"
            entry.cudagraph = object()
            return entry.output
        self.replays += 1
        return entry.output


class Scheduler2025(BatchPlan):
    """The Scheduler of vLLM before 2026-02 (#34898): only max_num_batched_tokens, and
    schedule(self). Eras mix in how they preempt."""

    def __init__(self, max_num_seqs: int = 64, max_num_batched_tokens: int = 4096, num_gpu_blocks: int = 1001):
        self.max_num_running_reqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self._start_plan(num_gpu_blocks)

    def schedule(self) -> SchedulerOutput:
        return self._form_batch()
