"""Many machines, on this one (issue 12): vLLM's CPU build served with data parallelism under
ProfileMate, every process recording into one session however it was started.

- DP=2 under `profilemate profile`: both engine cores and both workers in one session, each DP
  engine's steps reported apart.
- Two "hosts": a head (--data-parallel-size 2 --data-parallel-size-local 1) and a headless node
  (--headless --data-parallel-start-rank 1) in a UTS namespace of its own (another host name),
  joining by VLLM_PROFILING_SESSION_ID into a directory of its own; the two directories read as
  one run of two hosts whose requests add up to what the client sent.
- Ray: an actor on the second node of a two-node ray.cluster_utils.Cluster, given only the
  environment vLLM's get_env_vars_to_copy computes, with the package "pip-installed" (no
  sitecustomize, no PROFILEMATE_ variable): its log lands in the driver's session.

CPU-heavy (each server takes minutes to start on two cores): run by ctest as
real_vllm_cpu_many_machines_pytest, on its own.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from harness import CLI, HOOKS, cpu_build_only
from workloads import DENSE_CONFIG, write_model_dir

HERE = Path(__file__).resolve().parent
REQUESTS = 6
START_S = 600  # a server's start on two shared cores

pytestmark = cpu_build_only()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROFILEMATE_", "VLLM_")) and k not in ("PYTHONPATH", "CUDA_INJECTION64_PATH")
    }
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "VLLM_TARGET_DEVICE": "cpu",
            "VLLM_CPU_KVCACHE_SPACE": "1",
        }
    )
    env.update(extra)
    return env


def _serve(model: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        str(HERE / "vllm_cli.py"),
        "serve",
        str(model),
        "--load-format",
        "dummy",
        "--skip-tokenizer-init",
        "--enforce-eager",
        "--dtype",
        "float32",
        "--max-model-len",
        "256",
        "--max-num-seqs",
        "4",
        "--block-size",
        "32",
        *args,
    ]


class Process:
    """A command in a session of its own (so that it and its children can be stopped), its output in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.popen = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-6000:]

    def wait_healthy(self, port: int) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                pytest.fail(f"the server exited with {self.popen.returncode} before it served:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(2)
        pytest.fail(f"the server did not serve within {START_S} s:\n{self.tail()}")

    def stop(self, sig: int, group: bool) -> int:
        """Sends `sig` to the process (or its whole group) and waits; SIGKILL to the group after 120 s."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig) if group else self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
            pytest.fail(f"{self.popen.args[:3]} did not stop on signal {sig}:\n{self.tail()}")


def _complete(port: int, model: Path, count: int) -> None:
    for i in range(count):
        body = {"model": str(model), "prompt": [1, 5, 9, i + 3, 7, 3], "max_tokens": 4, "ignore_eos": True}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            assert answer.status == 200
            assert json.loads(answer.read())["usage"]["completion_tokens"] == 4
    # vLLM's shutdown SIGKILLs engine cores that linger: wait past the recorder's flush interval
    # (200 ms) so that the last steps are on disk, as they would be after any pause in traffic.
    time.sleep(1)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _profilemate(*args: str) -> str:
    done = subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"profilemate {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def _steps_per_engine(*session_dirs: Path) -> dict[str, int]:
    report = _profilemate("stats", *map(str, session_dirs), "--report", "steps", "--format", "csv")
    return {
        row["metric"]: int(row["count"])
        for row in csv.DictReader(report.splitlines())
        if row["metric"].startswith(("steps_dp", "steps_pid"))
    }


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_dir(tmp_path_factory.mktemp("model") / "dense", DENSE_CONFIG)


def test_dp2_with_two_api_servers_under_profilemate_profile_records_every_process_into_one_session(
    tmp_path, model
) -> None:
    session = tmp_path / "run1"
    port = _free_port()
    server = Process(
        [
            str(CLI),
            "profile",
            "-o",
            str(session),
            "--",
            *_serve(model, "--data-parallel-size", "2", "--api-server-count", "2", "--port", str(port)),
        ],
        _environment(),
        tmp_path / "serve.log",
    )
    try:
        server.wait_healthy(port)
        _complete(port, model, REQUESTS)
    finally:
        code = server.stop(signal.SIGINT, group=False)  # profilemate passes it on, waits, exports
    assert code in (0, 128 + signal.SIGINT, -signal.SIGINT), server.tail()
    processes = json.loads((session / "metadata.json").read_text(encoding="utf-8"))["processes"]
    roles = Counter(p["process_role"] for p in processes)
    assert roles["EngineCore_DP0"] == 1 and roles["EngineCore_DP1"] == 1, roles
    assert roles["ApiServer_0"] == 1 and roles["ApiServer_1"] == 1 and roles["VLLM_DP_Coordinator"] == 1, roles
    assert sorted(p["ranks"].get("dp") for p in processes if p["process_role"].startswith("EngineCore")) == [0, 1]
    # Each engine core's worker runs its model: two processes with forward passes, neither an engine core.
    forward_pids = {r["pid"] for r in _rows(session / "forward_pass_timing.csv")}
    engine_pids = {str(p["pid"]) for p in processes if p["process_role"].startswith("EngineCore")}
    assert len(forward_pids) == 2 and not forward_pids & engine_pids, (forward_pids, roles)
    steps = _rows(session / "batch_utilization.csv")
    assert sum(int(r["num_prefill_seqs"]) for r in steps) == REQUESTS, "every request prefilled once, in one engine"
    per_engine = _steps_per_engine(session)
    assert set(per_engine) == {"steps_dp0", "steps_dp1"} and all(per_engine.values()), per_engine


def test_a_headless_node_in_its_own_uts_namespace_joins_the_run_by_session_id(tmp_path, model) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a second host name needs `unshare --uts`, which needs root (and util-linux's unshare)")
    head_dir, node_dir = tmp_path / "head", tmp_path / "node2"
    port, rpc_port = _free_port(), _free_port()
    dp = ["--data-parallel-size", "2", "--data-parallel-size-local", "1", "--data-parallel-address", "127.0.0.1"]
    dp += ["--data-parallel-rpc-port", str(rpc_port)]
    head = Process(
        [str(CLI), "profile", "-o", str(head_dir / "run1"), "--", *_serve(model, *dp, "--port", str(port))],
        _environment(),
        tmp_path / "head.log",
    )
    # What a user does on another node: the hooks installed there, the session's id, a directory.
    node_env = _environment(PYTHONPATH=str(HOOKS), VLLM_PROFILING_SESSION_ID="run1", VLLM_PROFILING_DIR=str(node_dir))
    headless = _serve(model, *dp, "--headless", "--data-parallel-start-rank", "1")
    node = Process(
        ["unshare", "--uts", "sh", "-c", 'hostname node2 && exec "$@"', "sh", *headless],
        node_env,
        tmp_path / "node2.log",
    )
    try:
        head.wait_healthy(port)
        _complete(port, model, REQUESTS)
    finally:
        head.stop(signal.SIGINT, group=False)
        node.stop(signal.SIGTERM, group=True)
    merged = tmp_path / "merged"
    _profilemate("export", str(head_dir / "run1"), str(node_dir / "run1"), "-o", str(merged))
    metadata = json.loads((merged / "metadata.json").read_text(encoding="utf-8"))
    hosts = {h["host"]: h["pids"] for h in metadata["hosts"]}
    assert set(hosts) == {socket.gethostname(), "node2"}, hosts
    engines = {(p["host"], p["process_role"]) for p in metadata["processes"] if p["process_role"].startswith("Engine")}
    assert engines == {(socket.gethostname(), "EngineCore_DP0"), ("node2", "EngineCore_DP1")}, engines
    steps = _rows(merged / "batch_utilization.csv")
    assert sum(int(r["num_prefill_seqs"]) for r in steps) == REQUESTS, "the hosts' requests add up to the client's"
    assert {r["host"] for r in steps} == set(hosts), "both engines served"
    per_engine = _steps_per_engine(head_dir / "run1", node_dir / "run1")
    assert set(per_engine) == {f"steps_dp0@{socket.gethostname()}", "steps_dp1@node2"}, per_engine


# The driver: records (the plugin, as vLLM's process does), then starts an actor on the second
# node with the environment vLLM's Ray executor gives its actors. argv: session, actor's node.
RAY_DRIVER = """
import json, os, socket, sys
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from vllm.plugins import load_general_plugins
load_general_plugins()                                   # what every vLLM process does
from vllm.v1.core.sched.scheduler import Scheduler       # a patch applies: recording starts
from vllm.ray.ray_env import get_env_vars_to_copy

env = {name: os.environ[name] for name in get_env_vars_to_copy() if name in os.environ}
ray.init(address=sys.argv[1])

@ray.remote
class Actor:
    def run(self):
        given = sorted(k for k in os.environ if k.startswith("PROFILEMATE_"))  # before recording sets its own
        from vllm.plugins import load_general_plugins
        load_general_plugins()                           # as a vLLM worker does
        from vllm.v1.core.sched.scheduler import Scheduler
        import time
        time.sleep(1)                                    # past a flush interval: the log is on disk
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
                "profilemate_variables": given,
                "pythonpath": os.environ.get("PYTHONPATH", "")}

actor = Actor.options(
    scheduling_strategy=NodeAffinitySchedulingStrategy(sys.argv[2], soft=False), runtime_env={"env_vars": env}
).remote()
print(json.dumps({"driver": os.getpid(), "actor": ray.get(actor.run.remote()), "copied": sorted(env)}))
ray.kill(actor)
"""

RAY_CLUSTER = """
import json, sys, time
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
second = cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
print(json.dumps({"address": cluster.address, "second": second.node_id}), flush=True)
sys.stdin.read()                                          # until the test closes it
cluster.shutdown()
"""


def test_a_ray_actor_on_another_node_records_into_the_drivers_session(tmp_path) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.skip(
            "Ray is not installed in this environment: pip install ray==2.60.0 into the environment of "
            "scripts/real_vllm_env.sh --cpu (or put it on PYTHONPATH) to run the two-node actor test"
        )
    # The package as pip installs it on every node: importable, with its vllm.general_plugins entry
    # point, without sitecustomize; PYTHONPATH here stands for site-packages.
    site = tmp_path / "site"
    (site / "profilemate-0.1.0.dist-info").mkdir(parents=True)
    (site / "profilemate").symlink_to(HOOKS / "profilemate")
    (site / "profilemate-0.1.0.dist-info" / "METADATA").write_text("Name: profilemate\nVersion: 0.1.0\n")
    (site / "profilemate-0.1.0.dist-info" / "entry_points.txt").write_text(
        "[vllm.general_plugins]\nprofilemate = profilemate.vllm_plugin:register\n"
    )
    pythonpath = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    with open(tmp_path / "cluster.log", "wb") as cluster_log:
        cluster = subprocess.Popen(
            [sys.executable, "-c", RAY_CLUSTER],
            env=_environment(PYTHONPATH=pythonpath),  # the nodes know nothing of the session
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=cluster_log,
            text=True,
        )
    try:
        started = json.loads(cluster.stdout.readline() or "{}")
        assert started, (tmp_path / "cluster.log").read_text(errors="replace")[-4000:]
        session = tmp_path / "run1"
        done = subprocess.run(
            [sys.executable, "-c", RAY_DRIVER, started["address"], started["second"]],
            env=_environment(PYTHONPATH=pythonpath, PROFILEMATE_SESSION_DIR=str(session), VLLM_ENABLE_PROFILING="1"),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-6000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        cluster.communicate(input="", timeout=120)
    actor = result["actor"]
    assert actor["node"] == started["second"], "the actor ran on the second node"
    assert actor["profilemate_variables"] == [], "only VLLM_ variables reached the actor"
    assert {"VLLM_PROFILING_SESSION_ID", "VLLM_PROFILING_DIR", "VLLM_ENABLE_PROFILING"} <= set(result["copied"])
    logs = {p.name for p in session.glob("*.pmlog")}
    assert {f"process_{result['driver']}.pmlog", f"process_{actor['pid']}.pmlog"} <= logs, logs
    _profilemate("export", str(session), "-o", str(tmp_path / "export"))
    exported = json.loads((tmp_path / "export" / "metadata.json").read_text(encoding="utf-8"))
    assert {p["pid"] for p in exported["processes"]} >= {result["driver"], actor["pid"]}
