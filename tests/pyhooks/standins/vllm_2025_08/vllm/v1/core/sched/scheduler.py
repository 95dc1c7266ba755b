"""Stand-in for vllm/v1/core/sched/scheduler.py before Dec 2025 (#28827): no _preempt_request,
the preemption is written out inside schedule(); only max_num_batched_tokens."""

import vllm.v1.core.kv_cache_manager  # noqa: F401 - imported here in vLLM too
from standin_parts import BatchPlan, PreemptsInline, SchedulerOutput


class Scheduler(PreemptsInline, BatchPlan):
    def __init__(self, max_num_seqs: int = 64, max_num_batched_tokens: int = 4096, num_gpu_blocks: int = 1001):
        self.max_num_running_reqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self._start_plan(num_gpu_blocks)

    def schedule(self) -> SchedulerOutput:
        return self._form_batch()
