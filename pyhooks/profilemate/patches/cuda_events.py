"""GPU time from CUDA events, resolved later without a sync.

A timed region records a start and an end event on the current stream; `poll()` later asks the
oldest pending end event whether it has completed (`query()`, which never waits) and only then
reads the elapsed time. Nothing is timed without an initialised CUDA context (the hooks must not
create one), or while a stream capture is in progress (recording an event would become part of
the graph)."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable
from typing import Any

PROBE_EVERY = 64
Emit = Callable[[dict[str, Any], int | None], None]  # (the record's fields, gpu_ns or None)


def initialised_cuda() -> Any | None:
    """torch.cuda when this process has initialised CUDA (is_initialized() is cheap, unlike
    is_available(); the hooks never initialise it themselves)."""
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    return cuda if cuda is not None and cuda.is_initialized() else None


class GpuTimer:
    def __init__(self, emit: Emit, max_pending: int = 256, check_capture: bool = True) -> None:
        """check_capture=False for regions that never run inside a stream capture (a forward
        pass of a scheduler step): one device query less per call."""
        self._emit = emit
        self._max_pending = max_pending
        self._check_capture = check_capture
        self.pending: deque[tuple[Any, Any, dict[str, Any]]] = deque()  # the hooks poll when not empty
        self._spare: list[Any] = []
        self._cuda: Any = None  # torch.cuda, once seen initialised: it stays so
        self._unprobed = 0  # calls since CUDA was last found uninitialised

    def start(self) -> Any | None:
        """A start event on the current stream, or None when GPU time cannot be taken."""
        if self._cuda is None:
            # Asked again every PROBE_EVERY calls, not each: a process without CUDA (vLLM's CPU
            # build) would pay for the question every step. vLLM initialises CUDA long before its
            # first step, so at most the first few regions go without GPU time.
            self._unprobed = (self._unprobed + 1) % PROBE_EVERY
            if self._unprobed != 1 or (cuda := initialised_cuda()) is None:
                return None
            self._cuda = cuda
        if self._check_capture and self._cuda.is_current_stream_capturing():
            return None
        begin = self._event()
        begin.record()
        return begin

    def stop(self, begin: Any | None, payload: dict[str, Any]) -> None:
        """Ends the region `begin` started (same stream, no capture begun in between); the
        payload is emitted once its GPU time is known, or at once (with None) when there is none."""
        if begin is None:
            self._emit(payload, None)
            return
        end = self._event()
        end.record()
        self.pending.append((begin, end, payload))
        if len(self.pending) > self._max_pending:  # the GPU is far behind: give up on the oldest
            self._emit(self.pending.popleft()[2], None)

    def poll(self) -> None:
        """Emits every region whose end event has completed, oldest first; never waits."""
        while self.pending and self.pending[0][1].query():
            begin, end, payload = self.pending.popleft()
            self._emit(payload, int(begin.elapsed_time(end) * 1e6))  # ms -> ns
            self._spare += (begin, end)

    def drain(self) -> None:
        """At exit: what has completed with its GPU time, the rest without."""
        self.poll()
        while self.pending:
            self._emit(self.pending.popleft()[2], None)

    def _event(self) -> Any:
        return self._spare.pop() if self._spare else self._cuda.Event(enable_timing=True)
