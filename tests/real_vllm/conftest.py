"""The real-vLLM tier: ProfileMate's hooks on vLLM installed from PyPI (scripts/real_vllm_env.sh).

Run with that environment's python, from ctest (real_vllm_pytest) or by hand:

    $(scripts/real_vllm_env.sh) -m pytest tests/real_vllm    # PROFILEMATE_BUILD_DIR=build by default

Each workload (workloads.py) runs twice in a fresh interpreter: without ProfileMate, and with
build/pyhooks on PYTHONPATH and VLLM_ENABLE_PROFILING=1. Both write a transcript of what vLLM did;
the second also leaves a session, which `profilemate export` turns into the CSV files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from harness import CLI, HOOKS


def pytest_configure(config: pytest.Config) -> None:
    # A missing build must fail the tier, never skip it.
    missing = [str(p) for p in (HOOKS / "sitecustomize.py", CLI) if not p.exists()]
    if missing:
        raise pytest.UsageError(
            f"the real-vLLM tier needs a ProfileMate build: missing {', '.join(missing)} (set PROFILEMATE_BUILD_DIR)"
        )
    try:
        import vllm  # noqa: F401
    except ImportError as error:
        raise pytest.UsageError(
            f"the real-vLLM tier needs vLLM in this python ({sys.executable}): {error}; "
            f"run it with the python that scripts/real_vllm_env.sh prints"
        ) from error


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
