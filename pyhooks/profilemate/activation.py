"""Whether ProfileMate records in this process: the same rules as the injection library's."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence


def looks_like_vllm(argv: Sequence[str]) -> bool:
    """vllm.entrypoints.*, `vllm <subcommand>`, `-m vllm...`, or --model with anything naming vllm."""
    names_vllm = False
    has_model = False
    for i, arg in enumerate(argv):
        if "vllm.entrypoints" in arg:
            return True
        following = argv[i + 1] if i + 1 < len(argv) else ""
        if os.path.basename(arg) == "vllm" and following and not following.startswith("-"):
            return True
        if arg == "-m" and following.startswith("vllm"):
            return True
        names_vllm = names_vllm or "vllm" in arg
        has_model = has_model or arg == "--model" or arg.startswith("--model=")
    return names_vllm and has_model


def decide(environ: Mapping[str, str] | None = None, argv: Sequence[str] | None = None) -> tuple[bool, str]:
    """(on, the rule that decided)."""
    env = os.environ if environ is None else environ
    args = sys.argv if argv is None else argv
    if "PROFILEMATE_ENABLE" in env:
        return env["PROFILEMATE_ENABLE"] == "1", f"PROFILEMATE_ENABLE={env['PROFILEMATE_ENABLE']}"
    if "VLLM_ENABLE_PROFILING" in env:
        return env["VLLM_ENABLE_PROFILING"] == "1", f"VLLM_ENABLE_PROFILING={env['VLLM_ENABLE_PROFILING']}"
    if env.get("PROFILEMATE_SESSION_DIR"):
        return True, "PROFILEMATE_SESSION_DIR is set (joining a session)"
    if env.get("VLLM_PROFILING_SESSION_ID"):  # what reaches Ray actors and headless nodes
        return True, "VLLM_PROFILING_SESSION_ID is set (joining a session)"
    if looks_like_vllm(args):
        return True, "the command line looks like vLLM"
    return False, "not a vLLM process and no switch set"
