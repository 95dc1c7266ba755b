"""Stand-in for vllm/v1/core/sched/output.py."""

from standin_parts import NewRequestData, SchedulerOutput

__all__ = ["NewRequestData", "SchedulerOutput"]
