"""The patches, one module per vLLM component; `all_targets()` is the registry's content."""

from __future__ import annotations

from ..registry import PatchTarget
from . import scheduler


def all_targets() -> list[PatchTarget]:
    return [*scheduler.TARGETS]
