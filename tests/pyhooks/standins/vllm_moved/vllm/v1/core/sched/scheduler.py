"""Stand-in for a vLLM whose Scheduler no longer has schedule(): ProfileMate must skip it."""


class Scheduler:
    def plan(self) -> None:
        return None
