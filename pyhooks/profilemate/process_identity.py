"""Which vLLM process this is: its role and parallel ranks, as vLLM names them in the process title.

vLLM titles its processes once it knows their place (`VLLM::EngineCore_DP1`,
`VLLM::Worker_DP1_TP0_EP1`, `VLLM::APIServer_0`, `VLLM::DPCoordinator`) through
`setproctitle.setproctitle`, looked up on the module at each call. Watching that call gives the
role and the ranks at the moment they are known, whatever started the process (multiprocessing,
a headless node, a Ray actor), and adds nothing to vLLM's own work.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any

_RANK = re.compile(r"_(DP|TP|PP|EP)(\d+)(?=_|$)")
_DIMENSIONS = ("DP", "TP", "PP", "EP")


def from_title(title: str) -> tuple[str, tuple[int, int, int, int]]:
    """(role, (dp, tp, pp, ep)) from a vLLM process title; -1 for a rank the title does not name."""
    role = title.rsplit("::", 1)[-1]
    found = {dimension: int(rank) for dimension, rank in _RANK.findall(role)}
    dp, tp, pp, ep = (found.get(dimension, -1) for dimension in _DIMENSIONS)
    return role, (dp, tp, pp, ep)


def watch_process_title(record: Callable[[str, tuple[int, int, int, int]], None]) -> None:
    """Calls record(role, ranks) each time the process title is set from now on."""
    try:
        import setproctitle
    except ImportError:
        return  # vLLM then sets no title either
    original = setproctitle.setproctitle
    if getattr(original, "__profilemate_original__", None) is not None:
        return

    @functools.wraps(original)
    def setproctitle_recorded(title: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(title, *args, **kwargs)
        try:
            record(*from_title(str(title)))
        except Exception as error:  # noqa: BLE001 - never into vLLM
            print(f"[ProfileMate] process title not recorded: {type(error).__name__}: {error}", file=sys.stderr)
        return result

    setproctitle_recorded.__profilemate_original__ = original  # type: ignore[attr-defined]
    setproctitle.setproctitle = setproctitle_recorded
    current = str(setproctitle.getproctitle())
    if "::" in current:  # titled by vLLM before recording started
        record(*from_title(current))
