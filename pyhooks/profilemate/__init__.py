"""ProfileMate's Python hooks for vLLM.

`install()` decides whether to record (see activation.py), patches the vLLM modules already
imported and every watched module imported later, and starts the recorder when the first patch
applies: helper processes that never import vLLM (multiprocessing's resource tracker, say)
leave no log. It is idempotent; `unpatch()` undoes it (for tests).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import activation, import_hook, process_identity
from .patches import all_targets
from .registry import PatchResult, Registry

__version__ = "0.1.0"

_registry: Registry | None = None
_recording: bool | None = None  # None: not started yet
_announced: set[str] = set()
_finder: import_hook.PatchingFinder | None = None


def _version_of(package: str) -> str:
    """The version of an imported package (vLLM is, when the first patch applies); never imports."""
    return str(getattr(sys.modules.get(package), "__version__", ""))


def _process_role() -> str:
    """vLLM names the processes it starts (EngineCore_DP0, VllmWorker-0, ...); PROFILEMATE_PROCESS_ROLE,
    read by the recorder, wins over this."""
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is None or os.environ.get("PROFILEMATE_PROCESS_ROLE"):
        return ""  # an empty role leaves the header's
    name = multiprocessing.current_process().name
    return "" if name == "MainProcess" else name


# Set by the recorder when it opens the session (with setenv, which os.environ does not see).
_SESSION_VARIABLES = ("PROFILEMATE_SESSION_DIR", "VLLM_PROFILING_DIR", "VLLM_PROFILING_SESSION_ID")


def _share_session() -> None:
    """Copies the recorder's session variables into os.environ: vLLM's Ray executor gives its
    actors the VLLM_ variables of os.environ, not of the C environment."""
    import ctypes

    getenv = ctypes.CDLL(None).getenv
    getenv.restype = ctypes.c_char_p
    getenv.argtypes = [ctypes.c_char_p]
    for name in _SESSION_VARIABLES:
        value = getenv(name.encode())
        if value:
            os.environ[name] = os.fsdecode(value)


def _start_recording() -> bool:
    """Starts the recorder once, with the predecessor's banner."""
    global _recording
    if _recording is None:
        from .patches import recording

        native = recording.native()
        _recording = bool(native.start())
        if _recording:
            _share_session()
            session = native.session_dir()
            print("[sitecustomize] vLLM Comprehensive Instrumentation Loaded", file=sys.stderr)
            print(f"  Session ID: {session.rstrip('/').rsplit('/', 1)[-1]}", file=sys.stderr)
            print(f"  Output directory: {session}", file=sys.stderr)
            native.process_info(
                process_role=_process_role(),
                vllm_version=_version_of("vllm"),
                python_version=sys.version.split()[0],
                torch_version=_version_of("torch"),
            )
            process_identity.watch_process_title(lambda role, ranks: _record_title(native, role, ranks))
    return _recording


def _record_title(native: Any, role: str, ranks: tuple[int, int, int, int]) -> None:
    """The ranks vLLM gave this process in its title (a rank below 0: not named there), and its role
    where nothing named the process before: a multiprocessing name (VllmWorker-0 tells the workers
    apart, a title's bare "Worker" does not) or PROFILEMATE_PROCESS_ROLE stays."""
    dp, tp, pp, ep = (rank if rank >= 0 else None for rank in ranks)
    named = os.environ.get("PROFILEMATE_PROCESS_ROLE") or _process_role()
    native.process_info(
        process_role="" if named else role,
        vllm_version="",
        python_version="",
        torch_version="",
        dp_rank=dp,
        tp_rank=tp,
        pp_rank=pp,
        ep_rank=ep,
    )


def _announce(results: list[PatchResult]) -> None:
    from .patches import recording

    if not results or not _start_recording():
        return
    native = recording.native()
    for result in results:
        target = result.target
        if result.applied:
            if target.component not in _announced:  # one line per component, as the predecessor printed
                _announced.add(target.component)
                print(f"[Instrumentation] ✅ Successfully patched {target.component}", file=sys.stderr)
            native.patch_status(component=target.component, target=result.location, applied=True, reason="")
        else:
            print(
                f"[Instrumentation] ⚠️  Skipped {target.component} ({target.qualname}): {result.reason}", file=sys.stderr
            )
            native.patch_status(
                component=target.component,
                target=f"{target.module}:{target.qualname}",
                applied=False,
                reason=result.reason,
            )


def _after_import(module_name: str) -> None:
    if _registry is not None:
        _announce(_registry.apply_ready(executed=module_name))


def install() -> bool:
    """True when recording (now or already)."""
    global _registry, _finder
    if _registry is not None:
        return True
    on, _reason = activation.decide()
    if not on:
        return False
    try:
        from . import _native  # type: ignore[attr-defined] # noqa: F401
    except ImportError as error:
        print(
            f"[ProfileMate] the native bridge cannot load ({error}): nothing is recorded in this process",
            file=sys.stderr,
        )
        return False
    _registry = Registry(all_targets())
    _finder = import_hook.install(_registry.watched_modules(), _after_import)
    _announce(_registry.apply_ready())  # modules imported before us
    return True


def unpatch() -> None:
    """Restores vLLM's original methods and removes the import hook."""
    global _registry, _finder
    if _finder is not None:
        import_hook.uninstall(_finder)
    if _registry is not None:
        _registry.unpatch()
    _registry = None
    _finder = None
