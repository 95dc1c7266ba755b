"""The injection library installs the Python hooks through the Python C API (python_bootstrap.cpp).

Each test runs a fresh Python process that has imported the stand-in vLLM first, without the
hooks (build/pyhooks is not on PYTHONPATH, so no sitecustomize installs them), then plays the CUDA
driver through ctypes: loads libprofilemate_injection.so with the fake CUPTI, calls
InitializeInjection as cuInit would, schedules, captures a graph through vLLM's wrapper and
replays it. The session's one process log must then hold the CUPTI side and the Python side.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", HERE.parents[1] / "build"))
STANDINS = HERE.parent / "pyhooks" / "standins"
INJECTION = os.environ.get("PROFILEMATE_INJECTION_LIBRARY", str(BUILD / "injection" / "libprofilemate_injection.so"))
FAKE_CUPTI = os.environ.get("FAKE_CUPTI_LIBRARY", str(BUILD / "tests" / "injection" / "libfake_cupti.so"))
FAKE_DRIVER = os.environ.get("FAKE_CUDA_DRIVER_LIBRARY", str(BUILD / "tests" / "injection" / "libfake_cuda_driver.so"))

STEPS = 6
REPLAYS = 9
GPU_NS_EACH = 250_000

# argv[1]: how cuInit reaches InitializeInjection; argv[2]: how long to wait for the patch.
# Prints (JSON) the pid, whether and when it was patched, and what it added to sys.path.
WORKLOAD = f"""
import ctypes, importlib.util, json, os, sys, threading, time
from vllm.v1.core.sched.scheduler import Scheduler        # vLLM first, as vLLM's engine core does
from vllm.compilation.cuda_graph import CUDAGraphWrapper
from vllm.config.compilation import CUDAGraphMode
from vllm.forward_context import BatchDescriptor, set_forward_context

assert "profilemate" not in sys.modules and importlib.util.find_spec("profilemate") is None, "hooks at start"
unpatched = Scheduler.schedule
path_before = list(sys.path)

# The driver: cuGraphGetNodes for the injection library (RTLD_GLOBAL), CUPTI's part for us.
driver = ctypes.CDLL(os.environ["FAKE_CUDA_DRIVER_LIBRARY"], mode=ctypes.RTLD_GLOBAL)
driver.fake_driver_capture.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint64]
driver.fake_driver_launch.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
driver.fake_driver_run_gpu.argtypes = [ctypes.c_uint64]
assert driver.fake_driver_open(os.environ["PROFILEMATE_INJECTION_LIBRARY"].encode()) == 1
library = os.environ["PROFILEMATE_INJECTION_LIBRARY"]

how = sys.argv[1]
if how == "gil_held":              # PyDLL keeps the GIL during the call: still a pending call
    assert ctypes.PyDLL(library).InitializeInjection() == 1
elif how == "python_thread":       # CDLL releases the GIL during the call: a pending call
    results = []
    thread = threading.Thread(target=lambda: results.append(ctypes.CDLL(library).InitializeInjection()))
    thread.start()
    thread.join()
    assert results == [1]
elif how == "native_thread":       # a thread Python never saw, while this one HOLDS the GIL
    assert ctypes.PyDLL(os.environ["FAKE_CUDA_DRIVER_LIBRARY"]).fake_driver_initialize_on_new_thread() == 1
else:
    raise SystemExit(f"unknown mode {{how}}")
patched_on_return = Scheduler.schedule is not unpatched

deadline = time.monotonic() + float(sys.argv[2])   # a pending call runs here between two bytecodes
while Scheduler.schedule is unpatched and time.monotonic() < deadline:
    time.sleep(0.001)
patched = Scheduler.schedule is not unpatched

scheduler = Scheduler()
for _ in range({STEPS}):
    scheduler.schedule()
model = lambda x: driver.fake_driver_capture(7, 5, 105, 42) or x   # the "kernels" of the capture
wrapper = CUDAGraphWrapper(model, runtime_mode=CUDAGraphMode.FULL)
with set_forward_context(CUDAGraphMode.FULL, BatchDescriptor(8, num_reqs=8, uniform=True)):
    assert wrapper(1) == 1          # captured, labelled with the batch descriptor when patched
for _ in range({REPLAYS}):
    driver.fake_driver_launch(105, 7)
driver.fake_driver_run_gpu({GPU_NS_EACH})
print(json.dumps({{"pid": os.getpid(), "patched_on_return": patched_on_return, "patched": patched,
                  "imported": "profilemate" in sys.modules,
                  "path_added": [p for p in sys.path if p not in path_before]}}))
"""


class Run:
    def __init__(self, tmp: Path, result: dict, stderr: str) -> None:
        self.pid: int = result["pid"]
        self.patched_on_return: bool = result["patched_on_return"]
        self.patched: bool = result["patched"]
        self.imported: bool = result["imported"]  # profilemate in sys.modules
        self.path_added: list[str] = result["path_added"]
        self.result = result
        self.stderr = stderr
        self.session = tmp / "session"
        self.export_dir = tmp / "export"

    def csv(self, name: str) -> list[dict[str, str]]:
        with open(self.export_dir / name, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def metadata(self) -> dict:
        return json.loads((self.export_dir / "metadata.json").read_text(encoding="utf-8"))

    def notices(self) -> list[dict]:
        return [n for n in self.metadata()["notices"] if n["source"] == "pyhooks"]


def environment_for(tmp_path: Path, env: dict[str, str] | None) -> dict[str, str]:
    for library in (INJECTION, FAKE_CUPTI, FAKE_DRIVER):
        assert Path(library).is_file(), f"{library} is not built"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_"))}
    environment.update(
        {
            "PYTHONPATH": os.pathsep.join(str(STANDINS / d) for d in ("vllm_2026", "common")),  # no build/pyhooks
            "PROFILEMATE_SESSION_DIR": str(tmp_path / "session"),
            "PROFILEMATE_FLUSH_MS": "20",
            "PROFILEMATE_CUPTI_LIBRARY": FAKE_CUPTI,
            "PROFILEMATE_INJECTION_LIBRARY": INJECTION,
            "FAKE_CUDA_DRIVER_LIBRARY": FAKE_DRIVER,
        }
    )
    environment.update(env or {})
    return environment


def run_program(tmp_path: Path, source: str, args: list[str], environment: dict[str, str]) -> Run:
    program = tmp_path / "workload.py"
    program.write_text(source, encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, str(program), *args], env=environment, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired as timeout:
        pytest.fail(f"the workload hung (a deadlock in the bootstrap?):\n{timeout.stdout}\n{timeout.stderr}")
    assert done.returncode == 0, f"workload failed:\n{done.stdout}\n{done.stderr}"
    exported = subprocess.run(
        [str(BUILD / "tools" / "profilemate"), "export", str(tmp_path / "session"), "-o", str(tmp_path / "export")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert exported.returncode == 0, exported.stderr
    return Run(tmp_path, json.loads(done.stdout.strip().splitlines()[-1]), done.stderr)


def run(tmp_path: Path, how: str, env: dict[str, str] | None = None, patience_s: float = 10) -> Run:
    return run_program(tmp_path, WORKLOAD, [how, str(patience_s)], environment_for(tmp_path, env))


def assert_one_log_holds_both_sides(run: Run) -> None:
    logs = sorted(run.session.glob("*.pmlog"))
    assert [log.name for log in logs] == [f"process_{run.pid}.pmlog"], logs
    assert [p["pid"] for p in run.metadata()["processes"]] == [run.pid]
    # CUPTI's side, labelled with vLLM's batch descriptor that the patched wrapper set.
    captures = run.csv("cuda_graph_captures.csv")
    assert [
        (c["exec_id"], c["node_count"], c["runtime_mode"], c["num_tokens"], c["num_reqs"], c["uniform"])
        for c in captures
    ] == [("105", "42", "FULL", "8", "8", "True")], captures
    usage = [u for u in run.csv("cuda_graph_usage.csv") if u["exec_id"] == "105"]
    assert [(u["replay_count"], u["gpu_replays"], u["gpu_time_p50_us"]) for u in usage] == [
        (str(REPLAYS), str(REPLAYS), f"{GPU_NS_EACH / 1000:.3f}")
    ], usage
    # The Python side: the patched scheduler's steps, and the patches.
    assert [row["step"] for row in run.csv("batch_utilization.csv")] == [str(n) for n in range(1, STEPS + 1)]
    applied = {(p["pid"], p["target"]) for p in run.metadata()["patches"] if p["applied"]}
    assert (run.pid, "vllm.v1.core.sched.scheduler:Scheduler.schedule") in applied
    assert (run.pid, "vllm.compilation.cuda_graph:CUDAGraphWrapper.__call__") in applied, applied
    assert "[Instrumentation] ✅ Successfully patched Scheduler" in run.stderr


def test_a_process_that_imported_vllm_first_is_patched_by_a_pending_call_even_when_cuinit_holds_the_gil(
    tmp_path,
) -> None:
    run_ = run(tmp_path, "gil_held")
    assert run_.patched
    assert_one_log_holds_both_sides(run_)
    [notice] = run_.notices()
    assert notice["severity"] == "info"
    assert notice["message"].startswith("Python hooks installed by the injection library as a pending call"), notice
    assert notice["message"].endswith(f"from {BUILD.resolve() / 'pyhooks'}"), "found beside the library"
    assert run_.path_added == [str(BUILD.resolve() / "pyhooks")]
    assert f"[ProfileMate] {notice['message']}" in run_.stderr.splitlines()


@pytest.mark.parametrize("how", ["python_thread", "native_thread"])
def test_without_the_gil_the_install_is_a_pending_call_and_cuinit_never_waits(tmp_path, how) -> None:
    # native_thread: this process's only Python thread holds the GIL while it waits for the thread
    # in InitializeInjection; waiting for the GIL there would deadlock.
    run_ = run(tmp_path, how)
    assert run_.patched
    assert_one_log_holds_both_sides(run_)
    [notice] = run_.notices()
    assert notice["message"].startswith("Python hooks installed by the injection library as a pending call"), notice


# A stand-in torch.cuda whose lazy initialisation is shaped like torch's: a non-reentrant lock held
# around cuInit (torch._C._cuda_init, C++ holding the GIL) and around the Python calls queued for
# after it; touching torch.cuda again on that thread before it ends deadlocks.
FAKE_TORCH_CUDA = """
import ctypes, os, threading
_initialization_lock = threading.Lock()
_initialized = False
_queued_calls = [lambda: None for _ in range(1000)]
install_saw_initialized = []

def is_initialized():
    return _initialized

def _lazy_init():
    global _initialized
    if _initialized:
        return
    with _initialization_lock:
        if _initialized:
            return
        assert ctypes.PyDLL(os.environ["PROFILEMATE_INJECTION_LIBRARY"]).InitializeInjection() == 1
        for call in _queued_calls:   # bytecodes with the lock held: where a pending call runs
            call()
        _initialized = True

def current_device():
    _lazy_init()
    return 0
"""

# Hooks that touch torch.cuda when installed, as vLLM's platform code does when patching imports it.
HOOKS_TOUCHING_TORCH_CUDA = """
import sys

def install():
    cuda = sys.modules["torch.cuda"]
    cuda.current_device()
    cuda.install_saw_initialized.append(cuda.is_initialized())
    return True
"""

TORCH_WORKLOAD = """
import ctypes, json, os, sys, time
import torch.cuda

driver = ctypes.CDLL(os.environ["FAKE_CUDA_DRIVER_LIBRARY"], mode=ctypes.RTLD_GLOBAL)
assert driver.fake_driver_open(os.environ["PROFILEMATE_INJECTION_LIBRARY"].encode()) == 1
torch.cuda.current_device()          # the first CUDA call: torch's lazy initialisation, cuInit inside
deadline = time.monotonic() + 10
while not torch.cuda.install_saw_initialized and time.monotonic() < deadline:
    time.sleep(0.001)
print(json.dumps({"pid": os.getpid(), "patched_on_return": False, "patched": bool(torch.cuda.install_saw_initialized),
                  "imported": "profilemate" in sys.modules, "path_added": [],
                  "install_saw_initialized": torch.cuda.install_saw_initialized}))
"""


def test_hooks_that_touch_torch_cuda_are_installed_after_torchs_lazy_init_and_cannot_deadlock(tmp_path) -> None:
    (tmp_path / "fake_torch" / "torch" / "cuda").mkdir(parents=True)
    (tmp_path / "fake_torch" / "torch" / "__init__.py").write_text("")
    (tmp_path / "fake_torch" / "torch" / "cuda" / "__init__.py").write_text(FAKE_TORCH_CUDA)
    (tmp_path / "hooks" / "profilemate").mkdir(parents=True)
    (tmp_path / "hooks" / "profilemate" / "__init__.py").write_text(HOOKS_TOUCHING_TORCH_CUDA)
    environment = environment_for(tmp_path, {"PROFILEMATE_PYHOOKS_DIR": str(tmp_path / "hooks")})
    environment["PYTHONPATH"] = str(tmp_path / "fake_torch")
    run_ = run_program(tmp_path, TORCH_WORKLOAD, [], environment)
    assert run_.patched, f"the hooks were never installed:\n{run_.stderr}"
    # Run once, and only once torch.cuda was initialised: not inside _lazy_init's lock.
    assert run_.result["install_saw_initialized"] == [True], run_.result
    [notice] = run_.notices()
    assert notice["message"].startswith("Python hooks installed by the injection library as a pending call"), notice


@pytest.mark.parametrize("how", ["gil_held", "native_thread"])
def test_profilemate_python_bootstrap_0_leaves_the_process_unpatched(tmp_path, how) -> None:
    run_ = run(tmp_path, how, {"PROFILEMATE_PYTHON_BOOTSTRAP": "0"}, patience_s=0.5)
    assert not run_.patched and not run_.imported and run_.path_added == []
    assert run_.csv("batch_utilization.csv") == []
    assert run_.notices() == []
    captures = run_.csv("cuda_graph_captures.csv")  # CUPTI still records, without vLLM's labels
    assert [(c["exec_id"], c["runtime_mode"]) for c in captures] == [("105", "")], captures


def test_a_failing_package_is_reported_in_one_line_and_the_application_goes_on(tmp_path) -> None:
    broken = tmp_path / "broken"
    (broken / "profilemate").mkdir(parents=True)
    (broken / "profilemate" / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    run_ = run(tmp_path, "gil_held", {"PROFILEMATE_PYHOOKS_DIR": str(broken)}, patience_s=0.5)
    assert not run_.patched and not run_.imported
    assert run_.path_added == [], "the directory comes off sys.path again"
    lines = [line for line in run_.stderr.splitlines() if "ProfileMate" in line or "Traceback" in line]
    assert lines == [
        "[ProfileMate] Python hooks not installed: RuntimeError: broken on purpose. "
        "CUDA graph records are not affected."
    ], run_.stderr
    [notice] = run_.notices()
    assert notice["severity"] == "degraded"
    assert run_.csv("batch_utilization.csv") == []
    assert len(run_.csv("cuda_graph_captures.csv")) == 1


# The vLLM plugin in a process that has the package importable (no sitecustomize): argv[1] says
# whether the driver also initialises the injection library (cuInit with CUDA_INJECTION64_PATH).
PLUGIN_WORKLOAD = f"""
import ctypes, json, os, sys
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.compilation.cuda_graph import CUDAGraphWrapper
from vllm.config.compilation import CUDAGraphMode
from vllm.forward_context import BatchDescriptor, set_forward_context

driver = ctypes.CDLL(os.environ["FAKE_CUDA_DRIVER_LIBRARY"], mode=ctypes.RTLD_GLOBAL)
driver.fake_driver_capture.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint64]
driver.fake_driver_launch.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
driver.fake_driver_run_gpu.argtypes = [ctypes.c_uint64]
assert driver.fake_driver_open({INJECTION!r}.encode()) == 1

from profilemate import vllm_plugin
vllm_plugin.register()                 # what vllm.plugins.load_general_plugins does
vllm_plugin.register()                 # idempotent
if sys.argv[1] == "driver_too":
    assert driver.fake_driver_initialize_on_new_thread() == 1

scheduler = Scheduler()
for _ in range({STEPS}):
    scheduler.schedule()
model = lambda x: driver.fake_driver_capture(7, 5, 105, 42) or x
wrapper = CUDAGraphWrapper(model, runtime_mode=CUDAGraphMode.FULL)
with set_forward_context(CUDAGraphMode.FULL, BatchDescriptor(8, num_reqs=8, uniform=True)):
    assert wrapper(1) == 1
for _ in range({REPLAYS}):
    driver.fake_driver_launch(105, 7)
driver.fake_driver_run_gpu({GPU_NS_EACH})
print(json.dumps({{"pid": os.getpid(), "patched": hasattr(Scheduler.schedule, "__profilemate_original__"),
                  "imported": True, "patched_on_return": True, "path_added": []}}))
"""


@pytest.mark.parametrize(
    ("injection_path", "driver"),
    [
        ("", "plugin_only"),  # a Ray actor: no CUDA_INJECTION64_PATH reached it
        ("", "driver_too"),  # and the same library initialised again: once per process
        (INJECTION, "driver_too"),  # both paths present: the driver's, the plugin leaves CUPTI alone
    ],
)
def test_the_vllm_plugin_traces_cuda_graphs_once_with_or_without_cuda_injection64_path(
    tmp_path, injection_path, driver
) -> None:
    package_only = tmp_path / "site"  # the package as pip installs it: importable, no sitecustomize
    package_only.mkdir()
    (package_only / "profilemate").symlink_to(BUILD / "pyhooks" / "profilemate")
    environment = environment_for(tmp_path, {"CUDA_INJECTION64_PATH": injection_path})
    environment["PYTHONPATH"] += os.pathsep + str(package_only)
    del environment["PROFILEMATE_INJECTION_LIBRARY"]  # found beside the package, as installed
    environment["VLLM_ENABLE_PROFILING"] = "1"
    run_ = run_program(tmp_path, PLUGIN_WORKLOAD, [driver], environment)
    assert run_.patched
    assert_one_log_holds_both_sides(run_)  # one capture, each replay once with its GPU time
    started = [n for n in run_.notices() if n["message"].startswith("CUDA graph tracing started by the vLLM plugin")]
    if injection_path:
        assert started == [], "the driver loads the library: the plugin must leave CUPTI to it"
    else:
        [notice] = started
        assert notice["severity"] == "info"
        assert notice["message"].endswith(str((BUILD / "injection" / "libprofilemate_injection.so").resolve()))
        assert f"[ProfileMate] {notice['message']}" in run_.stderr.splitlines()
