"""`profilemate export --type perfetto`, checked against Perfetto's own schema.

The trace of the golden session is parsed with `perfetto_trace_pb2` from the `perfetto` PyPI
package (Perfetto's protos, not ours), and compared with the CSV export of the same session: the
tracks, the slices and their nesting, the flows from graph launches to their GPU executions, and
the counter values. When a `trace_processor_shell` binary is on PATH (or named by
PROFILEMATE_TRACE_PROCESSOR), the trace is also loaded in it; without one that test reports
itself skipped, never passed (the `perfetto` package would download it, and there is no network).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

try:
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb
except ImportError as error:  # a failure, not a skip: the schema check is the point of this file
    raise ImportError(
        "Perfetto's trace protos are missing: scripts/setup.sh installs the `perfetto` package into the project's .venv"
    ) from error

HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("PROFILEMATE_BUILD_DIR", HERE.parents[1] / "build"))
CLI = BUILD / "tools" / "profilemate"
GOLDEN = HERE.parent / "golden" / "synthetic" / "session"

TYPE = pb.TrackEvent.Type


@dataclass
class Slice:
    track: int
    name: str
    ts: int
    end: int = -1
    args: dict = field(default_factory=dict)
    flow_ids: list = field(default_factory=list)
    terminating_flow_ids: list = field(default_factory=list)


@dataclass
class Trace:
    tracks: dict  # uuid -> TrackDescriptor
    slices: list  # every slice, closed
    instants: list
    counters: dict  # track uuid -> [(ts, value)]

    def track_named(self, name: str, parent: int) -> int:
        found = [u for u, t in self.tracks.items() if t.name == name and t.parent_uuid == parent]
        assert len(found) == 1, f"{len(found)} tracks named {name!r} under {parent}"
        return found[0]


def annotation_value(annotation):
    return getattr(annotation, annotation.WhichOneof("value"))


def read_trace(path: Path) -> Trace:
    trace = pb.Trace()
    trace.ParseFromString(path.read_bytes())
    tracks, slices, instants, counters = {}, [], [], defaultdict(list)
    open_slices = defaultdict(list)  # track -> stack
    last_ts = {}  # sequence -> timestamp
    for packet in trace.packet:
        sequence = packet.trusted_packet_sequence_id
        assert sequence != 0, "every packet names its sequence"
        assert packet.timestamp >= last_ts.get(sequence, 0), f"sequence {sequence} goes back in time"
        last_ts[sequence] = packet.timestamp
        if packet.HasField("track_descriptor"):
            descriptor = packet.track_descriptor
            assert descriptor.uuid not in tracks, f"track {descriptor.uuid} described twice"
            tracks[descriptor.uuid] = descriptor
            continue
        assert packet.HasField("track_event"), packet
        event = packet.track_event
        assert event.track_uuid in tracks, f"event on undescribed track {event.track_uuid}"
        stack = open_slices[event.track_uuid]
        if event.type == TYPE.TYPE_SLICE_BEGIN:
            stack.append(
                Slice(
                    event.track_uuid,
                    event.name,
                    packet.timestamp,
                    args={a.name: annotation_value(a) for a in event.debug_annotations},
                    flow_ids=list(event.flow_ids),
                    terminating_flow_ids=list(event.terminating_flow_ids),
                )
            )
        elif event.type == TYPE.TYPE_SLICE_END:
            assert stack, f"END without BEGIN on track {tracks[event.track_uuid]}"
            closed = stack.pop()
            closed.end = packet.timestamp
            slices.append(closed)
        elif event.type == TYPE.TYPE_INSTANT:
            instants.append(
                Slice(
                    event.track_uuid,
                    event.name,
                    packet.timestamp,
                    packet.timestamp,
                    args={a.name: annotation_value(a) for a in event.debug_annotations},
                )
            )
        elif event.type == TYPE.TYPE_COUNTER:
            assert tracks[event.track_uuid].HasField("counter"), "a counter value on a counter track"
            value = event.double_counter_value if event.HasField("double_counter_value") else event.counter_value
            assert event.HasField("double_counter_value") or event.HasField("counter_value"), (
                "a counter value is written even when it is 0"
            )
            counters[event.track_uuid].append((packet.timestamp, value))
        else:
            pytest.fail(f"unexpected event type {event.type}")
    unbalanced = {tracks[t].name or t: len(s) for t, s in open_slices.items() if s}
    assert not unbalanced, f"slices left open: {unbalanced}"
    return Trace(tracks, slices, instants, counters)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    assert CLI.exists(), f"{CLI} is not built (set PROFILEMATE_BUILD_DIR)"
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    perfetto = run_cli("export", str(GOLDEN), "--type", "perfetto", "-o", str(out / "trace"))
    assert perfetto.returncode == 0, perfetto.stderr
    csvs = run_cli("export", str(GOLDEN), "-o", str(out / "csv"))
    assert csvs.returncode == 0, csvs.stderr
    trace_path = out / "trace" / "trace.perfetto-trace"
    return perfetto, trace_path, read_trace(trace_path), out / "csv"


def rows(csv_dir: Path, name: str) -> list[dict]:
    with open(csv_dir / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def process_tracks(trace: Trace) -> dict:
    return {t.process.pid: u for u, t in trace.tracks.items() if t.HasField("process")}


def descriptor_name(mode, tokens, reqs, uniform, lora) -> str:
    """As profilemate spells a batch descriptor ("FULL n=8 reqs=8 uniform")."""
    name = f"{mode or '?'} n={tokens}"
    if reqs != "None":
        name += f" reqs={reqs}"
    if uniform == "True":
        name += " uniform"
    if lora == "True":
        name += " lora"
    return name


def test_prints_the_path_and_where_to_open_it(exported):
    result, trace_path, _, _ = exported
    assert str(trace_path) in result.stdout
    assert "https://ui.perfetto.dev" in result.stdout
    assert result.stderr == "", "no progress bar or warning when stderr is not a terminal"


def test_a_process_track_per_process_and_a_thread_track_per_thread(exported):
    _, _, trace, csv_dir = exported
    metadata = json.loads((csv_dir / "metadata.json").read_text(encoding="utf-8"))
    processes = process_tracks(trace)
    assert sorted(processes) == sorted(p["pid"] for p in metadata["processes"])
    threads = {(t.thread.pid, t.thread.tid): t for t in trace.tracks.values() if t.HasField("thread")}
    assert len(threads) == sum(len(p["threads"]) for p in metadata["processes"])
    for process in metadata["processes"]:
        descriptor = trace.tracks[processes[process["pid"]]].process
        assert descriptor.process_name == process["process_role"]
        for thread in process["threads"]:
            track = threads[(process["pid"], thread["tid"])]
            assert track.thread.thread_name == thread["name"]
            assert track.parent_uuid == processes[process["pid"]]


def test_a_cuda_graph_launch_slice_per_replay_with_a_flow_to_its_gpu_slice(exported):
    _, _, trace, csv_dir = exported
    replays = rows(csv_dir, "cuda_graph_replays.csv")
    captures = {(c["pid"], c["graph_id"]): c for c in rows(csv_dir, "cuda_graph_captures.csv")}
    assert replays, "the golden session has replays"
    processes = process_tracks(trace)
    thread_track = {(t.thread.pid, t.thread.tid): u for u, t in trace.tracks.items() if t.HasField("thread")}

    launches = [s for s in trace.slices if s.name == "cudaGraphLaunch"]
    assert len(launches) == len(replays)
    gpu_by_flow = defaultdict(list)
    for s in trace.slices:
        for flow in s.terminating_flow_ids:
            gpu_by_flow[flow].append(s)
    launch_at = {(s.ts, s.args["exec_id"]): s for s in launches}
    assert len(launch_at) == len(launches)

    gpu_streams = set()
    for replay in replays:
        pid = int(replay["pid"])
        launch = launch_at[(int(replay["time_unix_ns"]), int(replay["exec_id"]))]
        assert launch.track == thread_track[(pid, int(replay["thread_id"]))]
        assert launch.end - launch.ts == pytest.approx(float(replay["cpu_launch_us"]) * 1e3, abs=1)
        if not replay["gpu_start_unix_ns"]:
            assert launch.flow_ids == []
            continue
        assert len(launch.flow_ids) == 1
        targets = gpu_by_flow[launch.flow_ids[0]]
        assert len(targets) == 1, "a launch's flow ends in exactly one GPU slice"
        gpu = targets[0]
        capture = captures[(replay["pid"], replay["graph_id"])]
        assert gpu.name == descriptor_name(
            replay["runtime_mode"], replay["num_tokens"], replay["num_reqs"], capture["uniform"], capture["has_lora"]
        )
        assert gpu.ts == int(replay["gpu_start_unix_ns"])
        assert gpu.end - gpu.ts == pytest.approx(float(replay["gpu_duration_us"]) * 1e3, abs=1)
        stream = trace.tracks[gpu.track]
        assert stream.name == f"GPU stream {replay['stream_id']}"
        assert stream.parent_uuid == processes[pid]
        gpu_streams.add(gpu.track)
    assert gpu_streams, "the golden session has GPU times"
    assert sum(len(v) for v in gpu_by_flow.values()) == sum(1 for r in replays if r["gpu_start_unix_ns"])


def test_slices_nest_on_every_track(exported):
    _, _, trace, _ = exported
    by_track = defaultdict(list)
    for s in trace.slices:
        by_track[s.track].append(s)
    for track, slices in by_track.items():
        slices.sort(key=lambda s: (s.ts, -s.end))
        open_ends = []
        for s in slices:
            assert s.end >= s.ts
            while open_ends and open_ends[-1] <= s.ts:
                open_ends.pop()
            assert not open_ends or s.end <= open_ends[-1], f"{s.name} overlaps its parent on {track}"
            open_ends.append(s.end)


def test_thread_slices_follow_the_csv_files(exported):
    _, _, trace, csv_dir = exported
    names = Counter(s.name for s in trace.slices)
    passes = rows(csv_dir, "forward_pass_timing.csv")
    assert sum(n for name, n in names.items() if name.startswith("forward step ")) == len(passes)
    forward = {s.ts: s for s in trace.slices if s.name.startswith("forward step ")}
    for row in passes:
        s = forward[int(row["time_unix_ns"])]
        assert s.name == f"forward step {row['step']}"
        assert s.end - s.ts == pytest.approx(float(row["forward_time_ms"]) * 1e6, abs=1e3)
        if row["gpu_time_ms"]:
            assert s.args["gpu_time_ms"] == pytest.approx(float(row["gpu_time_ms"]), abs=1e-3)
    operations = [
        r for r in rows(csv_dir, "cpu_operations_timing.csv") if not r["operation"].startswith("kv_cache_manager.")
    ]
    assert sum(names[name] for name in {r["operation"] for r in operations}) == len(operations)
    captures = rows(csv_dir, "cuda_graph_captures.csv")
    assert sum(n for name, n in names.items() if name.startswith("capture ")) == len(captures)
    assert sum(n for name, n in names.items() if name.startswith("moe layer ")) == len(
        rows(csv_dir, "moe_expert_timing.csv")
    )


def test_scheduler_steps_and_preemptions(exported):
    _, _, trace, csv_dir = exported
    steps = rows(csv_dir, "batch_utilization.csv")
    scheduler = {u for u, t in trace.tracks.items() if t.name == "scheduler"}
    step_slices = [s for s in trace.slices if s.track in scheduler]
    assert len(step_slices) == len(steps)
    by_ts = {s.ts: s for s in step_slices}
    for row in steps:
        s = by_ts[int(row["time_unix_ns"])]
        assert s.name == f"step {row['step']}"
        assert s.args["tokens"] == int(row["num_tokens"])
        assert s.args["seqs"] == int(row["num_seqs"])
        assert s.args["phase"] == row["phase"]
        assert s.args["token_utilization_pct"] == pytest.approx(float(row["token_utilization_pct"]))
    preemptions = rows(csv_dir, "preemption_events.csv")
    instants = [i for i in trace.instants if i.track in scheduler]
    assert [(i.ts, i.args["request_id"]) for i in instants] == [
        (int(p["time_unix_ns"]), p["request_id"]) for p in preemptions
    ]


def counter_values(trace: Trace, name: str, pid: int) -> list:
    track = trace.track_named(name, process_tracks(trace)[pid])
    return trace.counters[track]


def test_counters_equal_the_csv_values(exported):
    _, _, trace, csv_dir = exported
    kv = rows(csv_dir, "kv_cache_usage.csv")
    pid = int(kv[0]["pid"])
    values = counter_values(trace, "KV cache usage (%)", pid)
    assert [ts for ts, _ in values] == [int(r["time_unix_ns"]) for r in kv]
    for (_, value), row in zip(values, kv):
        assert abs(value - float(row["usage_pct"])) <= 0.005 + 1e-9, "equal to the CSV to its rounding"

    steps = rows(csv_dir, "batch_utilization.csv")
    pid = int(steps[0]["pid"])
    for name, column in [
        ("batch tokens", "num_tokens"),
        ("running requests", "running_queue_len"),
        ("waiting requests", "waiting_queue_len"),
    ]:
        values = counter_values(trace, name, pid)
        assert values == [(int(r["time_unix_ns"]), int(r[column])) for r in steps], name
    units = {t.name: t.counter.unit_name for t in trace.tracks.values() if t.HasField("counter")}
    assert units["KV cache usage (%)"] == "%"
    assert units["batch tokens"] == "tokens"


def trace_processor_shell() -> str | None:
    return os.environ.get("PROFILEMATE_TRACE_PROCESSOR") or shutil.which("trace_processor_shell")


def test_trace_processor_loads_the_trace(exported, tmp_path):
    shell = trace_processor_shell()
    if shell is None:
        pytest.skip(
            "trace_processor_shell is not on PATH (nor PROFILEMATE_TRACE_PROCESSOR): the trace "
            "was checked against Perfetto's schema only, not loaded in its trace processor"
        )
    _, trace_path, _, csv_dir = exported
    query = tmp_path / "query.sql"
    query.write_text(
        "select (select count(*) from slice where name = 'cudaGraphLaunch') as launches,"
        " (select count(*) from flow) as flows,"
        " (select count(*) from counter c join counter_track t on c.track_id = t.id"
        "   where t.name = 'KV cache usage (%)') as kv,"
        " (select count(*) from process where name = 'EngineCore') as engine,"
        " (select count(*) from stats where severity in ('error', 'data_loss') and value > 0) as errors;\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [shell, "-q", str(query), str(trace_path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    values = [int(v.strip().strip('"')) for v in lines[-1].split(",")]
    replays = rows(csv_dir, "cuda_graph_replays.csv")
    assert values[0] == len(replays)
    assert values[1] == sum(1 for r in replays if r["gpu_start_unix_ns"])
    assert values[2] == len(rows(csv_dir, "kv_cache_usage.csv"))
    assert values[3] == 1
    assert values[4] == 0, "trace processor reported errors while importing"
