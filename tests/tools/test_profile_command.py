"""`profilemate profile` end to end, on the driver simulator: the command runs with the injection
library (fake CUPTI behind it) and the Python hooks; its exit code, signals and children are
handled as nsys does; the session is exported and summarised."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", HERE.parents[1] / "build"))
CLI = BUILD / "tools" / "profilemate"
STANDINS = HERE.parent / "pyhooks" / "standins"
FAKE_CUPTI = BUILD / "tests" / "injection" / "libfake_cupti.so"
FAKE_DRIVER = BUILD / "tests" / "injection" / "libfake_cuda_driver.so"

# "cuInit" in a test program: the fake driver loads whatever CUDA_INJECTION64_PATH names, as the
# real one does (ProfileMate's injection library, or another tool's).
CUDA_INIT = """
import ctypes, os
driver = ctypes.CDLL(os.environ["FAKE_CUDA_DRIVER_LIBRARY"], mode=ctypes.RTLD_GLOBAL)
driver.fake_driver_capture.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint64]
driver.fake_driver_launch.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
driver.fake_driver_run_gpu.argtypes = [ctypes.c_uint64]
assert driver.fake_driver_open(os.environ["CUDA_INJECTION64_PATH"].encode()) == 1
assert driver.fake_driver_initialize_on_new_thread() == 1
"""

# A vLLM-like program: it imports the stand-in vLLM, then initialises CUDA, schedules, captures
# and replays.
APP = (
    """
import ctypes, os, subprocess, sys
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.compilation.cuda_graph import CUDAGraphWrapper
from vllm.config.compilation import CUDAGraphMode
from vllm.forward_context import BatchDescriptor, set_forward_context
"""
    + CUDA_INIT
    + """
scheduler = Scheduler()
for _ in range(5):
    scheduler.schedule()
wrapper = CUDAGraphWrapper(lambda x: driver.fake_driver_capture(3, 1, 101, 12) or x, runtime_mode=CUDAGraphMode.FULL)
with set_forward_context(CUDAGraphMode.FULL, BatchDescriptor(16, num_reqs=16, uniform=True)):
    wrapper(1)
for _ in range(7):
    driver.fake_driver_launch(101, 3)
driver.fake_driver_run_gpu(500_000)
# An orphan: a worker that outlives this process; profile must wait for it.
subprocess.Popen([sys.executable, "-c",
                  "import time; time.sleep(1.0); from vllm.v1.core.sched.scheduler import Scheduler; "
                  "s = Scheduler(); [s.schedule() for _ in range(3)]"])
sys.exit(int(sys.argv[1]))
"""
)


def fake_cuda_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without ProfileMate's and vLLM's switches, with the stand-in vLLM, the fake
    CUPTI and the fake driver; `env` on top."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_", "CUDA_INJECTION64_PATH"))
    }
    environment.update(
        {
            "PYTHONPATH": os.pathsep.join(str(STANDINS / d) for d in ("vllm_2026", "common")),
            "PROFILEMATE_CUPTI_LIBRARY": str(FAKE_CUPTI),
            "FAKE_CUDA_DRIVER_LIBRARY": str(FAKE_DRIVER),
        }
    )
    environment.update(env or {})
    return environment


def profile(tmp_path: Path, *args: str, env: dict[str, str] | None = None, **popen: object) -> subprocess.Popen:
    environment = fake_cuda_environment(env)
    return subprocess.Popen(
        [str(CLI), "profile", *args],
        env=environment,
        cwd=tmp_path,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_run_records_cuda_and_python_in_one_session_and_exits_with_the_commands_code(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    code, out, err = finish(profile(tmp_path, "-o", "run", "--", sys.executable, "app.py", "3"))
    assert code == 3, f"the command's exit code is profilemate's\n{out}\n{err}"
    session = tmp_path / "run"
    assert f"recording into {session}" in err
    assert len(list(session.glob("*.pmlog"))) == 2, "the app and its orphaned worker"
    usage = rows(session / "cuda_graph_usage.csv")
    assert [(r["runtime_mode"], r["num_tokens"], r["replay_count"], r["replay_source"]) for r in usage] == [
        ("FULL", "16", "7", "cupti")
    ], "CUPTI replays, labelled by the Python hooks' capture context"
    steps = rows(session / "batch_utilization.csv")
    assert len(steps) == 5 + 3, "the worker, which outlived the app, was waited for"
    assert f"{session}/cuda_graph_usage.csv" in out and f"{session}/metadata.json" in out
    assert "CUDA graph replays:     7 (" in out, out
    assert f"profilemate stats {session}" in out


def test_the_session_reaches_processes_that_get_only_vllm_variables(tmp_path: Path) -> None:
    # What vLLM's Ray executor passes to its actors: VLLM_* names the same session directory.
    show = "import os; print(*(f'{k}={v}' for k, v in sorted(os.environ.items()) if k.startswith('VLLM_')))"
    code, out, err = finish(profile(tmp_path, "-o", "runs/run1", "--", sys.executable, "-c", show))
    assert code == 0, err
    assert out.splitlines()[0].split() == [
        "VLLM_ENABLE_PROFILING=1",
        f"VLLM_PROFILING_DIR={tmp_path / 'runs'}",
        "VLLM_PROFILING_SESSION_ID=run1",
    ]


def test_a_directory_name_that_cannot_be_a_session_id_is_not_passed_on_and_says_so(tmp_path: Path) -> None:
    show = "import os; print(*(f'{k}={v}' for k, v in sorted(os.environ.items()) if k.startswith('VLLM_')))"
    env = {"VLLM_PROFILING_SESSION_ID": "someone_elses"}  # inherited: it would name another session
    code, out, err = finish(profile(tmp_path, "-o", "runs/my run", "--", sys.executable, "-c", show, env=env))
    assert code == 0, err
    assert out.splitlines()[0].split() == ["VLLM_ENABLE_PROFILING=1", f"VLLM_PROFILING_DIR={tmp_path / 'runs'}"]
    assert 'the session directory\'s name "my run" cannot reach Ray actors' in err, err


def test_a_signal_to_profilemate_reaches_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "got-sigterm"
    script = (
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).touch(), sys.exit(5)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    process = profile(tmp_path, "-o", "run", "--", sys.executable, "-c", script)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process, timeout=30)
    assert marker.exists(), "the command did not get the SIGTERM"
    assert code == 5, err


def test_duration_stops_the_command(tmp_path: Path) -> None:
    started = time.monotonic()
    code, _, err = finish(
        profile(tmp_path, "-o", "run", "--duration", "1", "--", sys.executable, "-c", "import time; time.sleep(60)"),
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert "stopped the command after --duration" in err
    assert code == 128 + signal.SIGINT, code


def test_an_injection_slot_already_taken_is_left_alone_and_said(tmp_path: Path) -> None:
    code, out, err = finish(
        profile(
            tmp_path,
            "-o",
            "run",
            "--",
            sys.executable,
            "-c",
            "import os; print(os.environ['CUDA_INJECTION64_PATH'])",
            env={"CUDA_INJECTION64_PATH": "/opt/nsys/libToolsInjection64.so"},
        )
    )
    assert code == 0
    assert out.splitlines()[0] == "/opt/nsys/libToolsInjection64.so"
    assert "CUDA_INJECTION64_PATH is already set (/opt/nsys/libToolsInjection64.so)" in err
    assert "Python hooks" in err and "still work" in err


def test_a_command_that_records_nothing_is_explained(tmp_path: Path) -> None:
    code, _, err = finish(profile(tmp_path, "-o", "run", "--", "true"))
    assert code == 0
    assert "no process recorded anything" in err and "profilemate diagnose" in err


def test_an_existing_session_is_kept_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    assert finish(profile(tmp_path, "-o", "run", "--", sys.executable, "app.py", "0"))[0] == 0
    code, _, err = finish(profile(tmp_path, "-o", "run", "--", "true"))
    assert code == 3 and "already holds a session" in err and "--force" in err
    code, _, err = finish(profile(tmp_path, "-o", "run", "--force", "--", sys.executable, "app.py", "0"))
    assert code == 0, err
    assert len(list((tmp_path / "run").glob("*.pmlog"))) == 2, "the old logs were replaced"


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "profile needs a command to run"),
        (["--trace", "cuda", "--", "true"], "unknown --trace item 'cuda': expected graphs, python or nvtx"),
        (["--duration", "soon", "--", "true"], "--duration takes a whole number of seconds above 0, not 'soon'"),
    ],
)
def test_usage_errors_say_what_is_wrong(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = finish(profile(tmp_path, *args))
    assert code == 2 and message in err, err


def test_an_installed_tree_works_after_it_is_moved(tmp_path: Path) -> None:
    cmake = os.environ.get("CMAKE_COMMAND", "cmake")
    installed = subprocess.run(
        [cmake, "--install", str(BUILD), "--prefix", str(tmp_path / "prefix")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stderr
    moved = tmp_path / "elsewhere"
    (tmp_path / "prefix").rename(moved)
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    environment = fake_cuda_environment()
    done = subprocess.run(
        [str(moved / "bin" / "profilemate"), "profile", "-o", "run", "--", sys.executable, "app.py", "0"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    usage = rows(tmp_path / "run" / "cuda_graph_usage.csv")
    assert [r["replay_count"] for r in usage] == ["7"], "the moved tree's injection library and hooks recorded"
    patched = {
        p["target"] for p in json.loads((tmp_path / "run" / "metadata.json").read_text())["patches"] if p["applied"]
    }
    assert "vllm.v1.core.sched.scheduler:Scheduler.schedule" in patched
    if os.environ.get("PROFILEMATE_BUILD_HAS_PARQUET") == "1":
        # The Parquet plugin and Arrow's libraries came along, and the moved plugin finds them there.
        plugin = moved / "lib" / "profilemate" / "libprofilemate_parquet.so"
        libraries = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True).stdout
        found = dict(re.findall(r"(lib(?:arrow|parquet)\.so\S*) => (\S+)", libraries))
        assert len(found) == 2, libraries
        for path in found.values():
            assert Path(path).resolve().parent == plugin.parent, libraries
        parquet = subprocess.run(
            [str(moved / "bin" / "profilemate"), "export", "run", "--type", "parquet", "-o", "tables"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert parquet.returncode == 0, parquet.stderr
        assert list((tmp_path / "tables" / "cuda_graph_usage").glob("session=*/hostname=*/part-0.parquet"))


def left_pids(err: str) -> list[int]:
    """The pids profile said it stopped waiting for, to clean up after a test."""
    for line in err.splitlines():
        if "not waiting any longer for pids " in line:
            listed = line.split("not waiting any longer for pids ", 1)[1].split(" (", 1)[0]
            return [int(p) for p in listed.split(", ")]
    return []


def test_a_daemon_left_behind_does_not_keep_profile_waiting(tmp_path: Path) -> None:
    daemon = "setsid sleep 1000 </dev/null >/dev/null 2>&1 & exit 0"
    process = profile(tmp_path, "--duration", "2", "-o", "run", "--", "sh", "-c", daemon)
    try:
        code, _, err = finish(process, timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("profile hung waiting for a daemon that left the command's session")
    pids = left_pids(err)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert code == 0, err
    assert "(they left the command's process group, as daemons do)" in err, err
    assert len(pids) == 1, f"profile names the daemon it stops waiting for:\n{err}"


def test_a_process_left_in_the_group_is_waited_for_and_said(tmp_path: Path) -> None:
    code, _, err = finish(profile(tmp_path, "-o", "run", "--", "sh", "-c", "(sleep 1; touch late) & exit 0"), 30)
    assert code == 0, err
    assert (tmp_path / "late").exists(), "profile returned before the process the command left behind"
    assert err.count("waiting up to 30 s for the processes it left in its process group (pids ") == 1, err


IGNORES_SIGNALS = (
    "import signal, time\n"
    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):\n"
    "    signal.signal(s, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


def test_ctrl_c_repeated_escalates_to_sigkill_and_says_so(tmp_path: Path) -> None:
    process = profile(tmp_path, "-o", "run", "--", sys.executable, "-c", IGNORES_SIGNALS)
    try:
        assert process.stdout.readline().strip() == "ready"
        for _ in range(3):
            process.send_signal(signal.SIGINT)
            time.sleep(0.5)  # one at a time: pending signals of one kind merge
        code, _, err = finish(process, timeout=30)
    finally:
        process.kill()
    assert "Ctrl-C again: sending SIGTERM to the command's process group" in err, err
    assert "Ctrl-C again: sending SIGKILL" in err, err
    assert code == 128 + signal.SIGKILL, err
    assert "the command was killed by SIGKILL (exit code 137)" in err, err


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_ends_profile_even_when_what_is_left_ignores_it(tmp_path: Path, sent: int) -> None:
    # The command exits at once and leaves a process in its group that ignores every polite signal.
    (tmp_path / "stubborn.py").write_text(IGNORES_SIGNALS, encoding="utf-8")
    command = f"{sys.executable} stubborn.py > ready.txt & echo $! > pid.txt; exit 0"
    process = profile(tmp_path, "-o", "run", "--", "sh", "-c", command)
    ready = tmp_path / "ready.txt"
    try:
        deadline = time.monotonic() + 20
        while not (ready.exists() and "ready" in ready.read_text()):
            assert time.monotonic() < deadline, "the stubborn process did not start"
            time.sleep(0.1)
        process.send_signal(sent)
        code, _, err = finish(process, timeout=40)
    except subprocess.TimeoutExpired:
        pytest.fail(f"profile ignored {signal.Signals(sent).name} while waiting for what the command left")
    finally:
        process.kill()
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.kill(int((tmp_path / "pid.txt").read_text()), signal.SIGKILL)
    assert code == 0, f"the command's own code\n{err}"
    assert "waiting up to 30 s" in err, err


def test_output_that_is_a_symlink_is_refused_untouched(tmp_path: Path) -> None:
    target = tmp_path / "shared"
    target.mkdir()
    target.chmod(0o755)
    (target / "precious.pmlog").write_text("someone else's log", encoding="utf-8")
    (tmp_path / "link").symlink_to(target)
    for given in ("link", "link/", "link/."):
        code, _, err = finish(profile(tmp_path, "-o", given, "--force", "--", "true"), 30)
        assert code == 3, err
        assert "is a symbolic link: refusing to write profiles there" in err and "-o" in err, err
        assert "recording into" not in err, "refused up front"
    assert (target / "precious.pmlog").exists(), "--force deleted a log through the link"
    assert target.stat().st_mode & 0o777 == 0o755, "the link's target was re-moded"


def test_output_owned_by_another_user_is_refused_untouched(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    theirs.chmod(0o755)
    os.chown(theirs, 65534, 65534)
    code, _, err = finish(profile(tmp_path, "-o", "theirs", "--", "true"), 30)
    assert code == 3, err
    assert "is owned by uid 65534, not by you" in err and "recording into" not in err, err
    assert theirs.stat().st_mode & 0o777 == 0o755, "another user's directory was re-moded"
