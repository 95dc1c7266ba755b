"""The pip package: a wheel of the hooks with the recorder inside, whose vLLM plugin entry point
installs the hooks in a process that has nothing of ProfileMate on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from conftest import STANDINS

SOURCE = Path(__file__).resolve().parents[2]

# What vllm.plugins.load_general_plugins does in every vLLM process, then vLLM work.
LIKE_VLLM = """
from importlib.metadata import entry_points
for plugin in entry_points(group="vllm.general_plugins"):
    plugin.load()()
from vllm.v1.core.sched.scheduler import Scheduler
scheduler = Scheduler()
for _ in range(3):
    scheduler.schedule()
print(hasattr(Scheduler.schedule, '__profilemate_original__'))
"""


def test_the_wheel_installs_the_hooks_through_vllms_plugin_entry_point(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-build-isolation",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "wheels"),
            str(SOURCE / "pyhooks"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheels").glob("profilemate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {
        "profilemate/_native.abi3.so",
        "profilemate/libprofilemate_recorder.so",
        "profilemate/libprofilemate_injection.so",  # for the plugin where no CUDA_INJECTION64_PATH reaches
        "profilemate/vllm_plugin.py",
    } <= set(names), names

    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_", "PYTHON"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(str(STANDINS / p) for p in ("vllm_2026", "common")),
            "PROFILEMATE_SESSION_DIR": str(tmp_path / "session"),
            "VLLM_ENABLE_PROFILING": "1",
        }
    )
    run = subprocess.run([str(python), "-c", LIKE_VLLM], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Successfully patched Scheduler" in run.stderr, "the entry point did not install the hooks"
    assert run.stdout.strip() == "True", "Scheduler.schedule is not ProfileMate's wrapper"
    logs = list((tmp_path / "session").glob("*.pmlog"))
    assert len(logs) == 1 and logs[0].stat().st_size > 0, logs
