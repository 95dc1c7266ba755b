"""Parts shared by the stand-in vLLM packages (written for ProfileMate's tests, no vLLM code):
the SchedulerOutput fields, BlockPool and KVCacheManager that ProfileMate reads, and a
deterministic batch plan. Each era's package re-exports them under vLLM's module paths."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NewRequestData:
    req_id: str


@dataclass
class SchedulerOutput:
    scheduled_new_reqs: list = field(default_factory=list)
    num_scheduled_tokens: dict = field(default_factory=dict)
    total_num_scheduled_tokens: int = 0


class BlockPool:
    """Block 0 is the null block, as in vLLM."""

    def __init__(self, num_gpu_blocks: int) -> None:
        self.num_gpu_blocks = num_gpu_blocks
        self.free = num_gpu_blocks - 1

    def get_num_free_blocks(self) -> int:
        return self.free

    def get_usage(self) -> float:
        return 1.0 - self.free / (self.num_gpu_blocks - 1)


class KVCacheManager:
    def __init__(self, num_gpu_blocks: int) -> None:
        self.block_pool = BlockPool(num_gpu_blocks)

    @property
    def usage(self) -> float:
        return self.block_pool.get_usage()


class BatchPlan:
    """Step n admits request n as a prefill of 100 + n tokens while the n - 1 others decode one
    token each; 5 - n % 5 requests wait; 7 more KV blocks are used per step."""

    def _start_plan(self, num_gpu_blocks: int) -> None:
        self.kv_cache_manager = KVCacheManager(num_gpu_blocks)
        self.running: list[str] = []
        self.waiting: list[str] = []
        self.steps = 0

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
        self.kv_cache_manager.block_pool.free -= 7
        return output
