"""Stand-in for vllm/v1/core/sched/scheduler.py, 2026 names: max_num_scheduled_tokens, and
schedule(throttle_prefills=False)."""

from standin_parts import BatchPlan, PreemptsByMethod, SchedulerOutput

from vllm.v1.core.kv_cache_manager import KVCacheManager


class Scheduler(PreemptsByMethod, BatchPlan):
    def __init__(self, max_num_seqs: int = 64, max_num_scheduled_tokens: int = 2048, num_gpu_blocks: int = 1001):
        self.max_num_running_reqs = max_num_seqs
        self.max_num_scheduled_tokens = max_num_scheduled_tokens
        self._start_plan(num_gpu_blocks, KVCacheManager)

    def schedule(self, throttle_prefills: bool = False) -> SchedulerOutput:
        """Forms the next batch."""
        if throttle_prefills == "boom":
            raise RuntimeError("scheduler failure")
        return self._form_batch()
