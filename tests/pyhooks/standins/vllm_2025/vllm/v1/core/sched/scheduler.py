"""Stand-in for vllm/v1/core/sched/scheduler.py before 2026-02 (#34898): only
max_num_batched_tokens, and schedule(self)."""

import vllm.v1.core.kv_cache_manager  # noqa: F401 - imported here in vLLM too
from standin_parts import BatchPlan, PreemptsByMethod, SchedulerOutput


class Scheduler(PreemptsByMethod, BatchPlan):
    def __init__(self, max_num_seqs: int = 64, max_num_batched_tokens: int = 4096, num_gpu_blocks: int = 1001):
        self.max_num_running_reqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self._start_plan(num_gpu_blocks)

    def schedule(self) -> SchedulerOutput:
        return self._form_batch()
