"""vLLM's plugin entry point (group `vllm.general_plugins`) for a pip-installed ProfileMate.

vLLM calls every general plugin in each process it starts (API server, engine cores, workers,
Ray actors on any node) before it builds the engine; `install()` then patches what is already
imported and the rest as it is imported. Activation is decided as everywhere else: installing the
package records nothing unless activation says so (VLLM_ENABLE_PROFILING=1, or
VLLM_PROFILING_SESSION_ID, reach Ray actors; PROFILEMATE_* variables do not).

A process that did not get CUDA_INJECTION64_PATH (a Ray actor, a headless node started by hand)
would trace no CUDA graph: the plugin then starts the injection library's CUPTI session itself,
before the model captures its graphs. Where CUDA_INJECTION64_PATH is set, the driver loads that
library in cuInit and the plugin leaves CUPTI to it, so nothing is recorded twice.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

_LIBRARY = "libprofilemate_injection.so"
_decided_in: int | None = None  # the pid that decided about graph tracing (a forked child decides again)


def injection_library() -> Path | None:
    """PROFILEMATE_INJECTION_LIBRARY, else the library of this installation: beside the package (the
    pip wheel), in lib/ of a `cmake --install` prefix (package in lib/python/), or in the build tree."""
    chosen = os.environ.get("PROFILEMATE_INJECTION_LIBRARY")
    if chosen:
        return Path(chosen) if Path(chosen).is_file() else None
    package = Path(__file__).resolve().parent
    for candidate in (
        package / _LIBRARY,
        package.parents[1] / _LIBRARY,
        package.parents[1] / "injection" / _LIBRARY,
    ):
        if candidate.is_file():
            return candidate
    return None


def _say(message: str) -> None:
    print(f"[ProfileMate] {message}", file=sys.stderr)
    try:
        from .patches import recording

        recording.native().notice(1, "pyhooks", message)  # INFO
    except Exception:  # noqa: BLE001 - the line on stderr is said already
        pass


def _start_graph_tracing() -> None:
    global _decided_in
    if _decided_in == os.getpid():
        return
    _decided_in = os.getpid()
    if os.environ.get("CUDA_INJECTION64_PATH") or os.environ.get("PROFILEMATE_CUPTI") == "0":
        return  # the driver loads it (ours, or another tool's that holds CUPTI's one subscriber slot)
    library = injection_library()
    if library is None:
        _say(
            "CUDA graphs are not traced in this process: it has no CUDA_INJECTION64_PATH and no "
            f"{_LIBRARY} was found (set PROFILEMATE_INJECTION_LIBRARY)"
        )
        return
    # Once per process inside the library, so a later cuInit with CUDA_INJECTION64_PATH naming the
    # same library does not start a second session.
    ctypes.CDLL(str(library)).InitializeInjection()
    _say(f"CUDA graph tracing started by the vLLM plugin (no CUDA_INJECTION64_PATH in this process), with {library}")


def register() -> None:
    try:
        from . import install

        if install():
            _start_graph_tracing()
    except Exception as error:  # noqa: BLE001 - a plugin must never stop vLLM
        print(f"[ProfileMate] hooks not installed: {type(error).__name__}: {error}", file=sys.stderr)
