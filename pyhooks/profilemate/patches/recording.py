"""What every patch shares: the native bridge, and a guard so that a recording failure never
reaches vLLM (it is counted instead)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

failures = 0
_native: ModuleType | None = None


def native() -> ModuleType:
    global _native
    if _native is None:
        from .. import _native as module  # type: ignore[attr-defined]

        _native = module
    return _native


def guarded(record: Callable[..., Any], *args: Any) -> None:
    global failures
    try:
        record(*args)
    except Exception:  # noqa: BLE001 - by design: vLLM must never see our failure
        failures += 1
