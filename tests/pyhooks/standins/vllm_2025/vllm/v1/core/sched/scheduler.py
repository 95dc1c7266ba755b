"""Stand-in for vllm/v1/core/sched/scheduler.py before 2026-02 (#34898): only
max_num_batched_tokens, and schedule(self)."""

from standin_parts import PreemptsByMethod, Scheduler2025

import vllm.v1.core.kv_cache_manager  # noqa: F401 - imported here in vLLM too


class Scheduler(PreemptsByMethod, Scheduler2025):
    pass
