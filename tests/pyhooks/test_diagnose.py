"""`python -m profilemate.diagnose` against stand-in vLLM packages."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import BUILD, STANDINS


def diagnose(era: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (BUILD / "pyhooks", STANDINS / era, STANDINS / "common"))
    env["VLLM_ENABLE_PROFILING"] = "0"  # diagnose must not need recording
    done = subprocess.run(
        [sys.executable, "-m", "profilemate.diagnose"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_reports_every_target_found_in_a_current_vllm() -> None:
    out = diagnose("vllm_2026")
    assert "vLLM: 0.99.0+standin-2026" in out
    assert re.search(r"\b(\d+) of \1 patch targets found", out), out
    assert "vllm.v1.core.sched.scheduler:Scheduler.schedule  found" in out
    assert "native bridge: loads" in out
    assert "injection library: " + str(BUILD / "injection" / "libprofilemate_injection.so") + ": loads" in out


def test_names_what_is_missing_and_why() -> None:
    out = diagnose("vllm_moved")
    assert "MISSING: vllm.v1.core.sched.scheduler has no Scheduler.schedule" in out
    assert "Preemption" in out and "BlockPool" in out
