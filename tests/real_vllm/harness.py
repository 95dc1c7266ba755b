"""The real-vLLM tier's harness: run a workload (workloads.py) in a fresh interpreter without and
with ProfileMate's hooks, export the session, and compare."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", HERE.parents[1] / "build"))
HOOKS = BUILD / "pyhooks"
CLI = BUILD / "tools" / "profilemate"


def cpu_build() -> str | None:
    """ "vllm-cpu X" or "vllm X+cpu" when this vLLM is a CPU build (runs a model without a GPU)."""
    import importlib.metadata

    for name in ("vllm-cpu", "vllm"):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if name == "vllm-cpu" or "cpu" in version:
            return f"{name} {version}"
    return None


def cpu_build_only() -> Any:
    """A test module's mark: skipped where this vLLM is no CPU build (it cannot run a model without a
    GPU), and failed at once in ctest's CPU run (PROFILEMATE_REAL_VLLM_CPU=1), which must never skip."""
    import pytest

    if cpu_build() is None and os.environ.get("PROFILEMATE_REAL_VLLM_CPU") == "1":
        pytest.fail("PROFILEMATE_REAL_VLLM_CPU=1 but this vLLM is not a CPU build", pytrace=False)
    return pytest.mark.skipif(
        cpu_build() is None,
        reason="this vLLM is not a CPU build: it cannot run a model without a GPU "
        "(run with the python of scripts/real_vllm_env.sh --cpu)",
    )


@dataclass
class Recorded:
    """What a workload did without and with the hooks, and what the hooks recorded."""

    plain: dict[str, Any]
    hooked: dict[str, Any]
    export_dir: Path
    stderr: str

    def csv(self, name: str) -> list[dict[str, str]]:
        with open(self.export_dir / name, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def metadata(self) -> dict[str, Any]:
        return json.loads((self.export_dir / "metadata.json").read_text(encoding="utf-8"))

    def applied_components(self) -> set[str]:
        return {p["component"] for p in self.metadata()["patches"] if p["applied"]}


def _environment(hooks: bool, session: Path | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROFILEMATE_", "VLLM_")) and k not in ("PYTHONPATH", "CUDA_INJECTION64_PATH")
    }
    env.update(
        {
            "HF_HUB_OFFLINE": "1",  # models are local directories with a config.json: never the network
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "VLLM_TARGET_DEVICE": "cpu",  # the official (CUDA) wheel on a machine without a GPU
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            "PYTHONHASHSEED": "0",
        }
    )
    if hooks:
        assert session is not None
        env.update({"PYTHONPATH": str(HOOKS), "VLLM_ENABLE_PROFILING": "1", "PROFILEMATE_SESSION_DIR": str(session)})
    return env


def _run(workload: str, directory: Path, hooks: bool, timeout: int) -> tuple[dict[str, Any], str]:
    directory.mkdir(parents=True)
    transcript = directory / "transcript.json"
    session = directory / "session" if hooks else None
    done = subprocess.run(
        [sys.executable, str(HERE / "workloads.py"), workload, str(transcript), str(directory)],
        env=_environment(hooks, session),
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    label = "with the hooks" if hooks else "without the hooks"
    assert done.returncode == 0, f"workload {workload} failed {label}:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    return json.loads(transcript.read_text(encoding="utf-8")), done.stderr


def run_recorded(workload: str, tmp: Path, timeout: int = 600) -> Recorded:
    plain, _ = _run(workload, tmp / "plain", hooks=False, timeout=timeout)
    hooked, stderr = _run(workload, tmp / "hooked", hooks=True, timeout=timeout)
    assert "[sitecustomize] vLLM Comprehensive Instrumentation Loaded" in stderr, (
        f"the hooks did not load in the {workload} workload:\n{stderr[-4000:]}"
    )
    export_dir = tmp / "export"
    exported = subprocess.run(
        [str(CLI), "export", str(tmp / "hooked" / "session"), "-o", str(export_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert exported.returncode == 0, f"profilemate export failed:\n{exported.stderr}"
    return Recorded(plain, hooked, export_dir, stderr)


def assert_same_transcript(recorded: Recorded) -> None:
    """vLLM did exactly the same with the hooks as without: every scheduled token, block id,
    preemption, eviction and output token."""
    plain, hooked = recorded.plain, recorded.hooked
    if plain == hooked:
        return
    for key in sorted(set(plain) | set(hooked)):
        if plain.get(key) != hooked.get(key):
            a, b = plain.get(key), hooked.get(key)
            if isinstance(a, list) and isinstance(b, list):
                for i, (x, y) in enumerate(zip(a, b)):
                    assert x == y, f"vLLM behaved differently with the hooks: {key}[{i}]\n without: {x}\n with:    {y}"
                assert len(a) == len(b), (
                    f"vLLM behaved differently with the hooks: {len(a)} {key} without, {len(b)} with"
                )
            assert a == b, f"vLLM behaved differently with the hooks: {key}\n without: {a}\n with:    {b}"


def by_step(rows: list[dict[str, str]], what: str) -> dict[int, dict[str, str]]:
    steps: dict[int, dict[str, str]] = {}
    for row in rows:
        step = int(row["step"])
        assert step not in steps, f"{what}: two rows for step {step}"
        steps[step] = row
    return steps


def pct_matches(csv_value: str, fraction: float) -> bool:
    """A CSV percentage (two decimals) against vLLM's fraction."""
    return abs(float(csv_value) - 100.0 * fraction) <= 0.005 + 1e-9
