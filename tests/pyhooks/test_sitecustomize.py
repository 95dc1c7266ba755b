"""sitecustomize.py: several copies of ours on PYTHONPATH (an installed prefix and a build tree,
as `profilemate profile` makes when the user's PYTHONPATH already names the installed hooks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import BUILD

PROBE = """
import sys
finders = [type(f).__name__ for f in sys.meta_path if type(f).__name__ == "PatchingFinder"]
print("finders", len(finders))
"""


def _start(tmp_path: Path, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
            "VLLM_ENABLE_PROFILING": "1",
            "PROFILEMATE_SESSION_DIR": str(tmp_path / "session"),
        }
    )
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)


def _foreign(tmp_path: Path) -> Path:
    other = tmp_path / "foreign"
    other.mkdir()
    (other / "sitecustomize.py").write_text('print("foreign sitecustomize ran")\n', encoding="utf-8")
    return other


def test_copies_of_our_sitecustomize_start_cleanly_install_once_and_run_the_foreign_one_once(tmp_path) -> None:
    installed = tmp_path / "installed"
    shutil.copytree(BUILD / "pyhooks", installed)
    older = tmp_path / "older"  # another version of the file: same name, different text
    older.mkdir()
    text = (BUILD / "pyhooks" / "sitecustomize.py").read_text(encoding="utf-8")
    (older / "sitecustomize.py").write_text("# an older copy\n" + text, encoding="utf-8")
    foreign = _foreign(tmp_path)
    done = _start(tmp_path, [BUILD / "pyhooks", installed, older, foreign])
    assert done.returncode == 0, done.stderr
    assert "Error in sitecustomize" not in done.stderr, done.stderr
    assert done.stdout.count("foreign sitecustomize ran") == 1, done.stdout
    assert "finders 1" in done.stdout, f"the hooks must be installed exactly once:\n{done.stdout}"


def test_a_foreign_sitecustomize_between_two_copies_runs_once(tmp_path) -> None:
    installed = tmp_path / "installed"
    shutil.copytree(BUILD / "pyhooks", installed)
    foreign = _foreign(tmp_path)
    done = _start(tmp_path, [BUILD / "pyhooks", foreign, installed])
    assert "Error in sitecustomize" not in done.stderr, done.stderr
    assert done.stdout.count("foreign sitecustomize ran") == 1, done.stdout
    assert "finders 1" in done.stdout, done.stdout


def test_a_foreign_sitecustomize_that_chains_back_to_ours_does_not_install_twice(tmp_path) -> None:
    chaining = tmp_path / "chaining"
    chaining.mkdir()
    ours = BUILD / "pyhooks" / "sitecustomize.py"
    (chaining / "sitecustomize.py").write_text(
        "import importlib.util\n"
        'print("foreign sitecustomize ran")\n'
        f'spec = importlib.util.spec_from_file_location("sitecustomize", {str(ours)!r})\n'
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n",
        encoding="utf-8",
    )
    done = _start(tmp_path, [BUILD / "pyhooks", chaining])
    assert "Error in sitecustomize" not in done.stderr, done.stderr
    assert done.stdout.count("foreign sitecustomize ran") == 1, done.stdout
    assert "finders 1" in done.stdout, done.stdout
