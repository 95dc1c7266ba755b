"""`python -m profilemate.diagnose`: what ProfileMate would find in this environment.

For the installed vLLM, every registry target: found (and where), or missing and why. Then
whether the native bridge, CUPTI and the injection library would load. Patches nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

from .patches import all_targets
from .registry import PatchResult, resolve


def _vllm_line() -> str:
    try:
        import vllm
    except Exception as error:  # noqa: BLE001
        return f"vLLM: not importable ({type(error).__name__}: {error})"
    return f"vLLM: {getattr(vllm, '__version__', 'unknown version')} ({Path(vllm.__file__).parent})"


def _loads(path: str) -> str:
    try:
        ctypes.CDLL(path)
    except OSError as error:
        return f"does not load: {error}"
    return "loads"


def _injection_library() -> str:
    from .vllm_plugin import injection_library

    found = injection_library()
    if found is None:
        return "not found (set PROFILEMATE_INJECTION_LIBRARY to its path)"
    return f"{found}: {_loads(str(found))}"


def report() -> tuple[list[str], int]:
    lines = [_vllm_line()]
    missing = 0
    for target in all_targets():
        found = resolve(target, import_missing=True)
        if isinstance(found, PatchResult) or found is None:
            missing += 1
            reason = found.reason if isinstance(found, PatchResult) else "not found"
            lines.append(f"  {target.component:<11} {target.module}:{target.qualname}  MISSING: {reason}")
        else:
            alternate = "" if found.location == f"{target.module}:{target.qualname}" else "  (older name)"
            lines.append(f"  {target.component:<11} {found.location}  found{alternate}")
    try:
        from . import _native  # type: ignore[attr-defined] # noqa: F401

        lines.append("native bridge: loads")
    except ImportError as error:
        lines.append(f"native bridge: does not load: {error}")
    cupti = os.environ.get("PROFILEMATE_CUPTI_LIBRARY") or "libcupti.so.13"
    lines.append(f"CUPTI ({cupti}): {_loads(cupti)}")
    lines.append(f"injection library: {_injection_library()}")
    holder = os.environ.get("CUDA_INJECTION64_PATH")
    if holder and "profilemate" not in holder:
        lines.append(f"CUDA_INJECTION64_PATH is taken by {holder}: graph tracing cannot load here")
    return lines, missing


def main() -> int:
    lines, missing = report()
    print("\n".join(lines))
    print(f"{len(all_targets()) - missing} of {len(all_targets())} patch targets found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
