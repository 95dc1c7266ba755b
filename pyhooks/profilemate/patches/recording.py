"""What every patch shares: the native bridge, and the count of recording failures (which never
reach vLLM)."""

from __future__ import annotations

from types import ModuleType

failures = 0
in_schedule = False  # inside Scheduler.schedule: a preemption there is for lack of KV cache
_native: ModuleType | None = None


def native() -> ModuleType:
    global _native
    if _native is None:
        from .. import _native as module  # type: ignore[attr-defined]

        _native = module
    return _native
