"""vLLM's plugin entry point (group `vllm.general_plugins`) for a pip-installed ProfileMate.

vLLM calls every general plugin in each process it starts (API server, engine core, workers)
before it builds the engine; `install()` then patches what is already imported and the rest as
it is imported. Activation is decided as everywhere else: installing the package records
nothing unless activation says so.
"""

from __future__ import annotations

import sys


def register() -> None:
    try:
        from . import install

        install()
    except Exception as error:  # noqa: BLE001 - a plugin must never stop vLLM
        print(f"[ProfileMate] hooks not installed: {type(error).__name__}: {error}", file=sys.stderr)
