"""The GPU check's parts that run without a GPU: the staged tree, the verdicts of
run_gpu_check.sh where no verdict is possible, and check_session.py on made-up exports.
PROFILEMATE_BUILD_DIR: the build to stage from (default build/)."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "gpu"
BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", ROOT / "build"))
VERDICT = re.compile(r"^GPU CHECK: (PASS|FAIL|NO VERDICT)\b")
sys.path.insert(0, str(HERE))
import graph_workload  # noqa: E402 - the path above first; it imports torch only when run
import moe_counting  # noqa: E402 - likewise


def run(*command, env=None, cwd=None):
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    stage = tmp_path_factory.mktemp("stage") / "gpu-stage"
    result = run(str(HERE / "stage.sh"), str(BUILD), str(stage))
    assert result.returncode == 0, f"stage.sh failed:\n{result.stdout}{result.stderr}"
    return stage


def clean_env(**extra):
    """Nothing from this machine's library setup: only PATH and HOME."""
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), **extra}


def test_staged_tree_needs_only_system_libraries(stage):
    needed = run("readelf", "-d", str(stage / "bin" / "profilemate")).stdout
    assert "libprotobuf" not in needed and "libzstd" not in needed, f"profilemate is not self-contained:\n{needed}"
    for part in ("lib/libprofilemate_injection.so", "lib/libprofilemate_recorder.so", "lib/python/sitecustomize.py"):
        assert (stage / part).is_file(), f"{part} is not staged"
    assert next((stage / "lib" / "python" / "profilemate").glob("_native*.so"), None), (
        "the hooks' extension is not staged"
    )
    result = run(str(HERE / "check_stage.sh"), str(stage), env=clean_env())
    assert result.returncode == 0, f"check_stage.sh rejects the stage:\n{result.stdout}{result.stderr}"


def test_staged_profilemate_exports_in_a_clean_environment(stage, tmp_path):
    session = ROOT / "tests" / "golden" / "synthetic" / "session"
    result = run(str(stage / "bin" / "profilemate"), "export", str(session), "--output", str(tmp_path), env=clean_env())
    assert result.returncode == 0, f"the staged profilemate cannot export:\n{result.stderr}"
    expected = (ROOT / "tests" / "golden" / "synthetic" / "expected" / "cuda_graph_usage.csv").read_text()
    assert (tmp_path / "cuda_graph_usage.csv").read_text() == expected


def test_the_stage_has_no_parquet_plugin_and_says_so(stage, tmp_path):
    session = ROOT / "tests" / "golden" / "synthetic" / "session"
    result = run(
        str(stage / "bin" / "profilemate"),
        "export",
        str(session),
        "--type",
        "parquet",
        "-o",
        str(tmp_path / "out"),
        env=clean_env(),
    )
    assert not (stage / "lib" / "profilemate").exists(), "the Parquet plugin and Arrow went into the stage"
    assert result.returncode == 2 and "Parquet" in result.stderr and "pip install pyarrow" in result.stderr, (
        result.stderr
    )


def test_check_stage_names_a_library_from_outside(tmp_path):
    protoc = shutil.which("protoc")
    assert protoc, "protoc (a build dependency) is needed for this test"
    shutil.copy(protoc, tmp_path / "protoc")
    result = run(str(HERE / "check_stage.sh"), str(tmp_path), env=clean_env())
    assert result.returncode == 1
    assert re.search(r"protoc: needs libprotoc\.so\.\d+ from /\S+, outside the stage", result.stderr), result.stderr


def test_check_stage_rejects_a_folder_without_binaries(tmp_path):
    result = run(str(HERE / "check_stage.sh"), str(tmp_path))
    assert result.returncode == 1 and "no ELF file" in result.stderr


def test_stage_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = run(str(HERE / "stage.sh"), str(BUILD), str(tmp_path))
    assert result.returncode == 1 and "not replacing it" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


# run_gpu_check.sh where no verdict is possible.


def fake_torch(tmp_path, body):
    package = tmp_path / "fake_torch" / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    return package.parent


def gpu_check(stage, tmp_path, **env):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    result = run(
        str(HERE / "run_gpu_check.sh"),
        str(stage),
        env=clean_env(GPU_CHECK_DIR=str(tmp_path / "work"), OUT=str(out), **env),
    )
    lines = result.stdout.strip().splitlines()
    assert lines and VERDICT.match(lines[-1]), f"the last line is no verdict:\n{result.stdout}{result.stderr}"
    assert sum(1 for line in lines if VERDICT.match(line)) == 1, f"more than one verdict line:\n{result.stdout}"
    return result.returncode, lines[-1], out


def test_no_verdict_without_a_stage(tmp_path):
    code, verdict, out = gpu_check(tmp_path / "missing", tmp_path, PYTHON=sys.executable)
    assert code == 2 and verdict.startswith("GPU CHECK: NO VERDICT: no staged tree"), verdict
    assert (out / "gpu-check.tar.gz").is_file(), "what the check wrote is not in $OUT"


def test_no_verdict_when_the_stage_cannot_run(stage, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(stage, broken)
    shutil.copy(shutil.which("protoc"), broken / "bin" / "profilemate")
    code, verdict, _ = gpu_check(broken, tmp_path, PYTHON=sys.executable)
    assert code == 2 and "cannot run on this machine" in verdict, verdict


def test_no_verdict_without_python(stage, tmp_path):
    code, verdict, _ = gpu_check(stage, tmp_path, PYTHON="/nonexistent/python3")
    assert code == 2 and "no /nonexistent/python3" in verdict, verdict


def test_no_verdict_without_torch(stage, tmp_path):
    path = fake_torch(tmp_path, "raise ImportError('libcudart.so.13: cannot open shared object file')\n")
    code, verdict, _ = gpu_check(stage, tmp_path, PYTHON=sys.executable, PYTHONPATH=str(path))
    assert code == 2 and "no torch" in verdict and "libcudart.so.13" in verdict, verdict


# A torch that imports but sees no CUDA device.
TORCH_WITHOUT_A_GPU = (
    "__version__ = '9.9.9+fake'\n"
    "class version:\n    cuda = '13.0'\n"
    "class cuda:\n    @staticmethod\n    def is_available():\n        return False\n"
)


def test_no_verdict_without_a_gpu(stage, tmp_path):
    path = fake_torch(tmp_path, TORCH_WITHOUT_A_GPU)
    code, verdict, _ = gpu_check(stage, tmp_path, PYTHON=sys.executable, PYTHONPATH=str(path))
    assert code == 2 and "no GPU: torch 9.9.9+fake (CUDA 13.0) sees no CUDA device" in verdict, verdict


# check_session.py on made-up exports: what a correct session looks like, and each way it can be wrong.

USAGE_COLUMNS = ["exec_id", "replay_count", "gpu_replays", "gpu_time_mean_us"]


def workload_result(tokens_per_s):
    replays = dict(graph_workload.REPLAYS)
    return {
        "device": "NVIDIA H200",
        "torch": "2.11.0+cu130",
        "cuda": "13.0",
        "cupti_mapped_at_import": [],
        "cupti_mapped_after_cuda_init": ["/opt/x/libcupti.so.13"],
        "replays": replays,
        "timed": {
            f"timed_b{b}": {"gpu_us_mean": 40.0 + b / 10, "host_launch_us_median": 2.5, "replays_maybe_idle_gpu": 0}
            for b in graph_workload.TIMED_BATCHES
        },
        "capture_during_replays": {"overlapped": True},
        "upload": {"status": 0},
        "explicit_destroys": 1,
        "decode": {"tokens_per_s_median": tokens_per_s, "tokens_per_s": [tokens_per_s] * 5},
        "latency": {"host_launch_us_median": 2.0},
        "done_unix_ns": 1_000_000_000,
        "notes": [],
    }


def write_export(directory, profiled, break_with=None):
    """An export of a session in which ProfileMate got everything right, then broken as asked."""
    usage, replays, captures = [], [], []
    for index, (name, count) in enumerate(profiled["replays"].items()):
        exec_id = str(1001 + index)
        gpu = profiled["timed"].get(name, {}).get("gpu_us_mean", 10.0)
        usage.append({"exec_id": exec_id, "replay_count": count, "gpu_replays": count, "gpu_time_mean_us": gpu})
        streams = ["7", "9"] if name == "two_streams" else ["7"]
        replays += [{"exec_id": exec_id, "stream_id": streams[i % len(streams)]} for i in range(count)]
        captures.append({"exec_id": exec_id, "stream_id": "13", "status": "ok"})
    process = {
        "log": {"records": 100, "torn_tail_records": 0},
        "graph_exec_events": {"destroy": 1, "upload": 1, "update": 0},
        "versions": {"cupti": "13.0"},
        "end_unix_ns": 1_100_000_000,
    }
    metadata = {"processes": [process], "totals": {"dropped_records": 0}, "notices": []}
    if break_with:
        break_with(usage, replays, captures, metadata)
    directory.mkdir()
    for name, rows in (("cuda_graph_usage", usage), ("cuda_graph_replays", replays), ("cuda_graph_captures", captures)):
        with open(directory / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
    (directory / "metadata.json").write_text(json.dumps(metadata))


def check_session(tmp_path, break_with=None):
    profiled, baseline = workload_result(9000.0), workload_result(10000.0)
    write_export(tmp_path / "export", profiled, break_with)
    for name, result in (("profiled", profiled), ("baseline", baseline)):
        (tmp_path / f"{name}.json").write_text(json.dumps(result))
    result = run(
        sys.executable,
        str(HERE / "check_session.py"),
        str(tmp_path / "export"),
        str(tmp_path / "profiled.json"),
        str(tmp_path / "baseline.json"),
        "0.4",
    )
    return result.returncode, result.stdout.strip().splitlines()


def test_check_session_passes_a_correct_session(tmp_path):
    code, lines = check_session(tmp_path)
    assert code == 0, "\n".join(lines)
    assert lines[-1].startswith("GPU CHECK: PASS: 12/12 graphs found"), lines[-1]
    assert "cudaGraphLaunch host median 2.00 -> 2.00 us" in lines[-1] and "x0.900" in lines[-1], lines[-1]


def merged_recapture(usage, replays, captures, metadata):
    # The recaptured graph counted as the destroyed one (an executable graph's handle reused).
    first = next(r for r in usage if r["replay_count"] == graph_workload.REPLAYS["recaptured_1"])
    second = next(r for r in usage if r["replay_count"] == graph_workload.REPLAYS["recaptured_2"])
    first["replay_count"] = first["gpu_replays"] = first["replay_count"] + second["replay_count"]
    usage.remove(second)


def doubled_counts(usage, replays, captures, metadata):
    # Runtime and driver launch callbacks both counted.
    for row in usage:
        row["replay_count"] *= 2


def late_gpu_times(usage, replays, captures, metadata):
    usage[0]["gpu_replays"] -= 3


def slow_gpu_time(usage, replays, captures, metadata):
    usage[3]["gpu_time_mean_us"] *= 1.2


def one_stream(usage, replays, captures, metadata):
    for row in replays:
        row["stream_id"] = "7"


def upload_missed(usage, replays, captures, metadata):
    metadata["processes"][0]["graph_exec_events"]["upload"] = 0


def dropped(usage, replays, captures, metadata):
    metadata["totals"]["dropped_records"] = 4


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (merged_recapture, "recaptured_1: 0 executable graphs with 110 replays, not 1"),
        (doubled_counts, "timed_b1: 0 executable graphs with 200 replays, not 1"),
        (late_gpu_times, "timed_b1: GPU time for 197 of 200 replays"),
        (slow_gpu_time, "timed_b512: GPU time 109.4 us, events 91.2 us"),
        (one_stream, "two_streams: replays on 1 streams, not 2"),
        (upload_missed, "cudaGraphUpload succeeded, 0 counted"),
        (dropped, "4 records dropped"),
    ],
)
def test_check_session_fails_a_wrong_session(tmp_path, breakage, message):
    code, lines = check_session(tmp_path, breakage)
    assert code == 1, "\n".join(lines)
    assert f"FAIL: {message}" in lines, "\n".join(lines)
    assert lines[-1].startswith("GPU CHECK: FAIL"), lines[-1]


def test_check_session_cannot_decide_without_an_export(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    result = run(
        sys.executable, str(HERE / "check_session.py"), str(tmp_path / "none"), *[str(tmp_path / "x.json")] * 2
    )
    assert result.returncode == 3 and "could not decide" in result.stdout


def test_workload_replay_counts_identify_each_graph():
    counts = list(graph_workload.REPLAYS.values())
    assert len(set(counts)) == len(counts), f"two graphs share a replay count: {graph_workload.REPLAYS}"
    assert graph_workload.REPLAYS["decode"] == graph_workload.DECODE_RUNS * graph_workload.DECODE_STEPS + 1


def test_workload_reads_the_libraries_mapped_into_the_process():
    mapped = graph_workload.mapped_libraries("libc.so")
    assert any(Path(p).name.startswith("libc.so") for p in mapped), mapped
    assert graph_workload.mapped_libraries("libcupti.so") == []


# graph_workload.py's logic, run on the stand-in torch (tests/gpu/standin): no GPU, no computing.

STANDIN = HERE / "standin"


def test_workload_replays_each_graph_as_often_as_it_reports(tmp_path):
    counts = tmp_path / "counts.json"
    env = {**os.environ, "PYTHONPATH": str(STANDIN), "STANDIN_TORCH_COUNTS": str(counts)}
    result = run(sys.executable, str(HERE / "graph_workload.py"), "--out", str(tmp_path / "r.json"), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    reported = json.loads((tmp_path / "r.json").read_text())
    # Capture order is the workload's order: each capture's real count is the count it reports.
    assert json.loads(counts.read_text()) == list(reported["replays"].values())
    assert reported["replays"] == graph_workload.REPLAYS
    # What check_session.py reads from it passes on an export that agrees with it.
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    write_export(baseline / "export", reported)
    (baseline / "r.json").write_text(json.dumps(reported))
    verdict = run(
        sys.executable, str(HERE / "check_session.py"), str(baseline / "export"), *[str(baseline / "r.json")] * 2
    )
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr


def test_gpu_check_fails_when_profilemate_writes_no_log(stage, tmp_path):
    # The stand-in's workload runs without a driver, so the injection library is never loaded.
    code, verdict, _ = gpu_check(stage, tmp_path, PYTHON=sys.executable, PYTHONPATH=str(STANDIN))
    assert (
        code == 1
        and verdict == "GPU CHECK: FAIL: ProfileMate wrote no log (injection library mapped in the workload: no)"
    )


# check_ray_session.py on sessions whose processes and rows are made up.
def _ray_session(tmp_path: Path, model_pid: int, per_layer: int) -> Path:
    session = tmp_path / "ray"
    session.mkdir()
    driver = {"pid": 10, "process_role": "", "command_line": "python generate.py --executor ray"}
    actor = {"pid": 20, "process_role": "RayWorkerWrapper", "command_line": "ray::RayWorkerWrapper"}
    (session / "metadata.json").write_text(json.dumps({"processes": [driver, actor]}), encoding="utf-8")
    tables = {
        "forward_pass_timing.csv": ("pid,num_tokens", [f"{model_pid},5", f"{model_pid},3"]),
        "batch_utilization.csv": ("num_tokens", ["5", "3", "0"]),
        "moe_expert_selection.csv": ("layer_idx,activation_count", [f"0,{per_layer}", f"1,{per_layer}"]),
    }
    for name, (header, lines) in tables.items():
        (session / name).write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return session


@pytest.mark.parametrize(
    ("model_pid", "per_layer", "verdict"),
    [
        (20, 16, "Ray executor: PASS: 2 processes, the model in pid 20 (RayWorkerWrapper)"),
        (10, 16, "Ray executor: FAIL: the forward passes are the driver's"),
        (20, 9, "Ray executor: FAIL: MoE selections per layer {'0': 9, '1': 9}, not top-2 of 8 forwarded tokens"),
    ],
)
def test_check_ray_session_says_where_the_model_ran(tmp_path, model_pid, per_layer, verdict):
    done = subprocess.run(
        [sys.executable, str(HERE / "check_ray_session.py"), str(_ray_session(tmp_path, model_pid, per_layer)), "16"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.startswith(verdict), done.stdout + done.stderr
    assert done.returncode == (0 if "PASS" in verdict else 1)


# moe_counting.py: its arithmetic and its report, and where it cannot run (the GPU part runs only on a GPU).


def test_moe_counting_expects_the_real_rows_selections_times_the_replays():
    ids = [[0, 3], [3, 3], [1, 0], [2, 2]]
    expected = moe_counting.expected_counts(ids, real=2, replays=5)
    assert expected[:4] == [5, 0, 0, 15] and sum(expected) == 2 * 2 * 5, expected[:4]
    assert moe_counting.per_layer_call_us([50.0, 52.0, 90.0], [10.0, 12.0, 11.0], layers=4) == (52.0 - 11.0) / 4


def test_moe_counting_reports_the_kernels_per_layer_call_and_wrong_counts():
    result = {
        "layers": 32,
        "experts": 64,
        "top_k": 8,
        "rows": 256,
        "replays": 200,
        "gpu_us_per_layer_call": 2.5,
        "counting_graph_gpu_us_median": 90.0,
        "baseline_graph_gpu_us_median": 10.0,
        "kernels_of_one_replay": {
            "void at::native::clamp_kernel<int>(int*)": {"calls": 32, "total_us": 40.0},
            "void at::native::indexFuncSmallIndex<int, long>(...)": {"calls": 32, "total_us": 48.0},
            "void at::native::fill_marker(float*)": {"calls": 1, "total_us": 1.0},
        },
        "layers_with_wrong_counts": [],
    }
    line = moe_counting.summary(result)
    assert line.startswith("MoE counting: 2.50 us GPU per layer call"), line
    assert "void at::native::clamp_kernel x1 1.25 us, void at::native::indexFuncSmallIndex x1 1.50 us;" in line, line
    assert "fill_marker" not in line and line.endswith("counts exact"), line
    line = moe_counting.summary({**result, "layers_with_wrong_counts": [3, 7], "kernels_of_one_replay": {}})
    assert "kernels per layer call: not listed" in line and line.endswith("counts WRONG in layers [3, 7]"), line


def test_moe_counting_says_why_it_cannot_run_without_a_gpu(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(fake_torch(tmp_path, TORCH_WITHOUT_A_GPU))}
    result = run(sys.executable, str(HERE / "moe_counting.py"), "--out", str(tmp_path / "moe.json"), env=env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.strip() == "no GPU: torch 9.9.9+fake (CUDA 13.0) sees no CUDA device", result.stdout
