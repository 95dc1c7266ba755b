"""vLLM shutting down a worker or an engine core: what the other patches still hold back for their
windows (MoE counts, KV cache windows, replay counts, pending GPU times) is written then, and the
log flushed, before vLLM's own teardown starts.

Waiting for interpreter exit is not enough: the teardown (distributed groups, torch) can outlast
the grace period the parent process gives (VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS, then SIGTERM,
then SIGKILL after 4 s), and a killed process runs no atexit hook. Both paths run the same hooks,
which write only what is still pending."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget
from . import recording

_FLUSH_TIMEOUT_MS = 1000  # the writer normally needs a few ms; vLLM's teardown waits no longer


def wrap_shutdown(original: Callable[..., Any]) -> Callable[..., Any]:
    def shutdown(*args: Any, **kwargs: Any) -> Any:
        try:
            recording.write_pending()
            recording.native().flush(_FLUSH_TIMEOUT_MS)
        except Exception:  # noqa: BLE001 - vLLM's shutdown goes on whatever happened here
            recording.failed()
        return original(*args, **kwargs)

    return shutdown


TARGETS = [
    # A worker ends here under multiprocessing (WorkerProc.shutdown) and in process
    # (UniProcExecutor.shutdown); Ray ends its actors itself, so there only atexit writes.
    PatchTarget(
        "Worker shutdown",
        "vllm.v1.worker.worker_base",
        "WorkerWrapperBase.shutdown",
        wrap_shutdown,
        required_params=("self",),
    ),
    # The scheduler's process: KV cache windows and the step records of the engine core.
    PatchTarget(
        "EngineCore shutdown",
        "vllm.v1.engine.core",
        "EngineCore.shutdown",
        wrap_shutdown,
        required_params=("self",),
    ),
]
