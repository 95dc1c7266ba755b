"""torch.cuda stand-in: events get consecutive sequence numbers when recorded; the GPU has
completed every event up to `completed`; one event step is EVENT_STEP_MS of GPU time."""

from __future__ import annotations

EVENT_STEP_MS = 0.25
recorded = 0
completed = 0
capturing = False


def is_available() -> bool:
    return True


def is_initialized() -> bool:
    return True


def is_current_stream_capturing() -> bool:
    return capturing


def complete_all() -> None:
    global completed
    completed = recorded


def synchronize(device=None) -> None:
    raise AssertionError("the hooks called torch.cuda.synchronize")


class Event:
    def __init__(self, enable_timing: bool = False) -> None:
        assert enable_timing, "events must be created with enable_timing=True"
        self.seq: int | None = None

    def record(self, stream=None) -> None:
        global recorded
        recorded += 1
        self.seq = recorded

    def query(self) -> bool:
        return self.seq is not None and self.seq <= completed

    def synchronize(self) -> None:
        raise AssertionError("the hooks waited for an event")

    def elapsed_time(self, end: "Event") -> float:
        if not (self.query() and end.query()):
            raise AssertionError("elapsed_time on an event that has not completed would block")
        return (end.seq - self.seq) * EVENT_STEP_MS
