"""What every patch shares: the native bridge, the count of recording failures (which never
reach vLLM), and what must run when the process exits (work still pending in the hooks)."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from types import ModuleType

failures = 0  # recording failures of the hooks, all kinds together (tests read it)
in_schedule = False  # inside Scheduler.schedule: a preemption there is for lack of KV cache
step = 0  # the scheduler step being formed, or the last one formed
_native: ModuleType | None = None
_exit_hooks: list[Callable[[], None]] = []


def native() -> ModuleType:
    global _native
    if _native is None:
        from .. import _native as module  # type: ignore[attr-defined]

        _native = module
    return _native


_failures_written = 0
_failures_written_ns = 0
_failures_described: set[str] = set()
FAILURES_WRITE_INTERVAL_NS = 1_000_000_000
_NOTICE_WARNING = 2  # profilemate.Notice.Severity


def failed() -> None:
    """Counts a failure of a hook's own recording code; call it from the `except` that caught it.
    vLLM never sees the failure. The log gets the running count (at most once a second, and at
    exit) as dropped records of reason HOOK_FAILURE, and for the first failure of each hook a
    notice naming the hook and the exception, so that `profilemate stats --report health` shows
    what was not recorded and why. Never raises: it runs inside the hooks' `except` blocks."""
    global failures
    failures += 1
    try:
        frame = sys._getframe(1)
        where = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}"
        bridge = native()
        if where not in _failures_described:
            _failures_described.add(where)
            error = sys.exc_info()[1]
            cause = f"{type(error).__name__}: {error}" if error is not None else "failed"
            bridge.notice(_NOTICE_WARNING, "pyhooks", f"{where}: recording failed ({cause}); vLLM is unaffected")
            on_exit(write_failures)
        if bridge.now() - _failures_written_ns >= FAILURES_WRITE_INTERVAL_NS:
            write_failures()
    except Exception:  # noqa: BLE001 - the failure is counted above; nothing may reach vLLM
        pass


def write_failures() -> None:
    """Writes the failure count when it changed since it was last written."""
    global _failures_written, _failures_written_ns
    if failures != _failures_written:
        bridge = native()
        bridge.hook_failures(failures)
        _failures_written, _failures_written_ns = failures, bridge.now()


def nvtx_ranges() -> bool:
    """Whether the hooks open NVTX ranges in the ProfileMate domain (for nsys): when an NVTX tool
    is attached (NVTX loads one only through NVTX_INJECTION64_PATH, which nsys sets), unless
    PROFILEMATE_NVTX=0, the recorder's own rule. Asked when a hook is made: one without ranges
    pays nothing for them."""
    if os.environ.get("PROFILEMATE_NVTX", "").startswith("0"):
        return False
    return bool(os.environ.get("NVTX_INJECTION64_PATH") or os.environ.get("NVTX_INJECTION32_PATH"))


def on_exit(hook: Callable[[], None]) -> None:
    """Runs `hook` when vLLM shuts this process's worker or engine core down (patches/shutdown.py)
    and again at interpreter exit, before the recorder's own exit flush. A hook writes what its
    patch still holds back (windows, counts, pending GPU times) and nothing twice."""
    if not _exit_hooks:
        atexit.register(write_pending)
    if hook not in _exit_hooks:
        _exit_hooks.append(hook)


def write_pending() -> None:
    for hook in _exit_hooks:
        if hook is write_failures:  # last, so that it counts the exit hooks' own failures
            continue
        try:
            hook()
        except Exception:  # noqa: BLE001 - exit must go on
            failed()
    try:
        write_failures()
    except Exception:  # noqa: BLE001 - nothing more can be recorded
        pass
