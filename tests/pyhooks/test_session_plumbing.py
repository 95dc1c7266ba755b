"""The session reaches processes that get only VLLM_ variables (Ray actors, headless nodes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import BUILD, STANDINS

# Records, then starts a "Ray actor": a process given only the VLLM_ variables of os.environ (what
# vLLM's get_env_vars_to_copy passes on), with the package importable and no PYTHONPATH hooks.
DRIVER = """
import os, subprocess, sys
from vllm.v1.core.sched.scheduler import Scheduler
Scheduler().schedule()
actor_env = {k: v for k, v in os.environ.items() if k.startswith("VLLM_")}
actor_env.update(PATH=os.environ["PATH"], PYTHONPATH=sys.argv[1])
actor = "from profilemate import vllm_plugin; vllm_plugin.register(); "
actor += "from vllm.v1.core.sched.scheduler import Scheduler; Scheduler().schedule()"
subprocess.run([sys.executable, "-c", actor], env=actor_env, check=True)
print(os.getpid())
"""


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_", "CUDA_INJECTION"))}


def _actor_path(tmp_path: Path) -> str:
    package_only = tmp_path / "site"
    package_only.mkdir()
    (package_only / "profilemate").symlink_to(BUILD / "pyhooks" / "profilemate")
    return os.pathsep.join(str(p) for p in (package_only, STANDINS / "vllm_2026", STANDINS / "common"))


def test_an_actor_given_only_vllm_variables_records_into_the_drivers_session(tmp_path) -> None:
    session = tmp_path / "runs" / "run1"
    env = _clean_env()
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(
                str(p) for p in (BUILD / "pyhooks", STANDINS / "vllm_2026", STANDINS / "common")
            ),
            "PROFILEMATE_SESSION_DIR": str(session),
            "PROFILEMATE_ENABLE": "1",  # as `profilemate profile` sets it: it does not reach the actor
            "PROFILEMATE_PROCESS_ROLE": "x",  # nor this
            "PROFILEMATE_INJECTION_LIBRARY": "/nonexistent",  # no CUPTI here: the actor says so and goes on
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, _actor_path(tmp_path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    logs = sorted(p.name for p in session.glob("*.pmlog"))
    assert len(logs) == 2, f"the driver's and the actor's logs in one session: {logs}\n{done.stderr}"
    assert not (tmp_path / "vllm_profiling").exists()


def test_a_session_id_alone_names_the_directory_under_vllm_profiling_dir(tmp_path) -> None:
    env = _clean_env()
    env.update(
        {
            "PYTHONPATH": _actor_path(tmp_path),
            "VLLM_PROFILING_DIR": str(tmp_path / "profiles"),
            "VLLM_PROFILING_SESSION_ID": "run-42",
            "PROFILEMATE_INJECTION_LIBRARY": "/nonexistent",
        }
    )
    program = (
        "from profilemate import vllm_plugin; vllm_plugin.register()\n"
        "from vllm.v1.core.sched.scheduler import Scheduler; Scheduler().schedule()\n"
    )
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "profiles" / "run-42").glob("process_*.pmlog"))) == 1, done.stderr
    assert "Session ID: run-42" in done.stderr
