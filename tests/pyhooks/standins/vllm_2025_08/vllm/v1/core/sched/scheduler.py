"""Stand-in for vllm/v1/core/sched/scheduler.py before Dec 2025 (#28827): no _preempt_request,
the preemption is written out inside schedule(); only max_num_batched_tokens."""

from standin_parts import PreemptsInline, Scheduler2025

import vllm.v1.core.kv_cache_manager  # noqa: F401 - imported here in vLLM too


class Scheduler(PreemptsInline, Scheduler2025):
    pass
