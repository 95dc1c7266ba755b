"""Helpers for the Python hooks' tests: run a workload in a fresh interpreter with the hooks on
PYTHONPATH and a stand-in vLLM, then read what `profilemate export` made of its session."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
STANDINS = Path(__file__).resolve().parent / "standins"


@dataclass
class Run:
    session: Path
    stderr: str
    export_dir: Path
    stdout: str = ""

    def csv(self, name: str) -> list[dict[str, str]]:
        with open(self.export_dir / name, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def metadata(self) -> dict:
        return json.loads((self.export_dir / "metadata.json").read_text(encoding="utf-8"))


@pytest.fixture
def run_workload(tmp_path: Path):
    def run(
        script: str,
        era: str | None = "vllm_2026",
        env: dict[str, str] | None = None,
        extra_paths: tuple[Path, ...] = (),
    ) -> Run:
        session = tmp_path / "session"
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("PROFILEMATE_", "VLLM_"))}
        environment.update(
            {
                "PYTHONPATH": os.pathsep.join(
                    str(p)
                    for p in (
                        BUILD / "pyhooks",
                        *([STANDINS / era] if era else []),  # None: the installed vLLM
                        STANDINS / "common",
                        *extra_paths,
                    )
                ),
                "PROFILEMATE_SESSION_DIR": str(session),
                "VLLM_ENABLE_PROFILING": "1",
            }
        )
        environment.update(env or {})
        program = tmp_path / "workload.py"  # a file, so that spawned children can import its functions
        program.write_text(script, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(program)], env=environment, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"workload failed:\n{done.stdout}\n{done.stderr}"
        export_dir = tmp_path / "export"
        exported = subprocess.run(
            [str(BUILD / "tools" / "profilemate"), "export", str(session), "-o", str(export_dir)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert exported.returncode == 0, exported.stderr
        return Run(session, done.stderr, export_dir, done.stdout)

    return run
