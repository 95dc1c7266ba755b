"""What every patch shares: the native bridge, the count of recording failures (which never
reach vLLM), and what must run when the process exits (work still pending in the hooks)."""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable
from types import ModuleType

failures = 0
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


def nvtx_ranges() -> bool:
    """Whether the hooks open NVTX ranges in the ProfileMate domain (for nsys): when an NVTX tool
    is attached (NVTX loads one only through NVTX_INJECTION64_PATH, which nsys sets), unless
    PROFILEMATE_NVTX=0, the recorder's own rule. Asked when a hook is made: one without ranges
    pays nothing for them."""
    if os.environ.get("PROFILEMATE_NVTX", "").startswith("0"):
        return False
    return bool(os.environ.get("NVTX_INJECTION64_PATH") or os.environ.get("NVTX_INJECTION32_PATH"))


def on_exit(hook: Callable[[], None]) -> None:
    """Runs `hook` at interpreter exit, before the recorder's own exit flush."""
    if not _exit_hooks:
        atexit.register(run_exit_hooks)
    if hook not in _exit_hooks:
        _exit_hooks.append(hook)


def run_exit_hooks() -> None:
    global failures
    for hook in _exit_hooks:
        try:
            hook()
        except Exception:  # noqa: BLE001 - exit must go on
            failures += 1
