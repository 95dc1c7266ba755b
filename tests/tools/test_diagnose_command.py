"""`profilemate diagnose`: each check says ok or what to do, and the exit code says whether
anything would not work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", HERE.parents[1] / "build"))
STANDINS = HERE.parent / "pyhooks" / "standins"


def diagnose(*args: str, env: dict[str, str] | None = None, vllm: bool = True) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROFILEMATE_", "VLLM_", "CUDA_INJECTION64_PATH", "PYTHONPATH"))
    }
    if vllm:
        environment["PYTHONPATH"] = os.pathsep.join(str(STANDINS / d) for d in ("vllm_2026", "common"))
    environment.update(env or {})
    return subprocess.run(
        [str(BUILD / "tools" / "profilemate"), "diagnose", "--python", sys.executable, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_working_environment_has_nothing_wrong(tmp_path: Path) -> None:
    done = diagnose("-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stdout
    assert f"ok       injection library {BUILD / 'injection' / 'libprofilemate_injection.so'}" in done.stdout
    assert "ok       vLLM: 0.99.0+standin-2026" in done.stdout
    found = [line for line in done.stdout.splitlines() if line.endswith("patch targets found")]
    assert len(found) == 1 and found[0].split()[1] == found[0].split()[3], f"every target found: {found}"
    assert f"ok       {tmp_path / 'out'} is writable" in done.stdout
    assert "Nothing wrong found (" in done.stdout.splitlines()[-1]


def test_each_problem_says_what_to_do_and_the_exit_code_is_four(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    done = diagnose(
        "-o", str(blocker / "out"), env={"CUDA_INJECTION64_PATH": "/opt/nsys/libToolsInjection64.so"}, vllm=False
    )
    assert done.returncode == 4
    out = done.stdout
    assert "PROBLEM  CUDA_INJECTION64_PATH is taken by /opt/nsys/libToolsInjection64.so" in out
    assert "PROBLEM  vLLM: not importable" in out and "-> pass the interpreter" in out
    assert f"PROBLEM  {blocker / 'out'} is not writable" in out
    assert "MISSING" not in out, "targets are not listed one by one when vLLM itself is missing"
    assert out.rstrip().endswith("3 problems found.")


def test_a_cupti_that_does_not_load_is_named() -> None:
    done = diagnose(env={"PROFILEMATE_CUPTI_LIBRARY": "/nonexistent/libcupti.so"})
    assert done.returncode == 4
    assert "PROBLEM  PROFILEMATE_CUPTI_LIBRARY=/nonexistent/libcupti.so does not load" in done.stdout
