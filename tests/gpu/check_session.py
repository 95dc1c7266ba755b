#!/usr/bin/env python3
"""Checks a ProfileMate session recorded on a GPU against what graph_workload.py knows.

    check_session.py EXPORT_DIR PROFILED_JSON BASELINE_JSON [EXIT_SECONDS]

EXPORT_DIR holds `profilemate export` of the session recorded while graph_workload.py wrote
PROFILED_JSON; BASELINE_JSON is the same workload without ProfileMate. EXIT_SECONDS: how long the
profiled process took from its last line to its exit (run_gpu_check.sh measures it). Checks:
  - each graph of the workload is exactly one executable graph in cuda_graph_usage.csv, found by
    its (distinct) replay count, with GPU time for every replay, and no other graph is there;
  - ProfileMate's mean GPU time of each timed graph is within ABS_US + REL of the mean of the
    torch.cuda.Event reference measured in the same process;
  - the two-stream graph's replays name two streams; the graph captured while another thread
    replayed has its capture; the explicit upload and destroy are counted;
  - nothing was dropped and no fault was noticed.
Prints the table, what the run tells about the questions of issue 10, and last one line:
GPU CHECK: PASS or FAIL with the figures. Exit 0 on PASS, 1 on FAIL, 3 when it could not decide.
Standard library only.
"""

import csv
import json
import statistics
import sys
import traceback
from pathlib import Path

ABS_US = 3.0
REL = 0.03


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Check:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def expect(self, ok: bool, what: str) -> bool:
        if not ok:
            self.failures.append(what)
        return ok


def check_graphs(check: Check, profiled: dict, usage: list[dict], replays: list[dict]) -> dict:
    """Matches each graph to its usage row; returns name -> row for the graphs found."""
    wanted = profiled["replays"]
    counts = list(wanted.values())
    if len(set(counts)) != len(counts):
        raise ValueError(f"the workload's replay counts are not distinct: {wanted}")
    found = {}
    print(f"{'graph':<25} {'replays':>7} {'rows':>4} {'gpu_replays':>11} {'streams':>7}")
    for name, count in wanted.items():
        rows = [r for r in usage if int(r["replay_count"]) == count]
        row = rows[0] if len(rows) == 1 else None
        gpu_replays = int(row["gpu_replays"]) if row else 0
        streams = {r["stream_id"] for r in replays if row and r["exec_id"] == row["exec_id"]}
        ok = check.expect(len(rows) == 1, f"{name}: {len(rows)} executable graphs with {count} replays, not 1")
        ok &= check.expect(gpu_replays == count, f"{name}: GPU time for {gpu_replays} of {count} replays")
        if name == "two_streams":
            ok &= check.expect(len(streams) == 2, f"two_streams: replays on {len(streams)} streams, not 2")
        print(f"{name:<25} {count:>7} {len(rows):>4} {gpu_replays:>11} {len(streams):>7} {'ok' if ok else 'FAIL'}")
        if row:
            found[name] = row
    matched = {r["exec_id"] for r in found.values()}
    for r in usage:
        check.expect(
            r["exec_id"] in matched,
            f"executable graph {r['exec_id']} ({r['replay_count']} replays) is none of the workload's",
        )
    return found


def check_gpu_times(check: Check, profiled: dict, found: dict) -> float:
    """ProfileMate's mean GPU time against the event reference; returns the worst difference."""
    worst = 0.0
    print(f"\n{'graph':<12} {'events_us':>9} {'ours_us':>9} {'diff_us':>8} {'allowed':>8} {'host_us':>8} {'idle?':>5}")
    for name, ref in profiled["timed"].items():
        row = found.get(name)
        ours = float(row["gpu_time_mean_us"]) if row and row["gpu_time_mean_us"] else float("nan")
        diff = abs(ours - ref["gpu_us_mean"])
        allowed = ABS_US + REL * ref["gpu_us_mean"]
        ok = check.expect(diff <= allowed, f"{name}: GPU time {ours:.1f} us, events {ref['gpu_us_mean']:.1f} us")
        worst = max(worst, diff) if diff == diff else float("inf")
        print(
            f"{name:<12} {ref['gpu_us_mean']:>9.1f} {ours:>9.1f} {diff:>8.1f} {allowed:>8.1f} "
            f"{ref['host_launch_us_median']:>8.1f} {ref['replays_maybe_idle_gpu']:>5} {'ok' if ok else 'FAIL'}"
        )
    return worst


def check_life_cycle(check: Check, profiled: dict, found: dict, captures: list[dict], process: dict) -> None:
    captured = found.get("captured_during_replays")
    capture_rows = [c for c in captures if captured and c["exec_id"] == captured["exec_id"]]
    check.expect(
        len(capture_rows) == 1 and capture_rows[0]["status"] == "ok",
        f"the graph captured while another thread replayed has {len(capture_rows)} capture rows",
    )
    events = process.get("graph_exec_events", {})
    if profiled["upload"]["status"] == 0:
        check.expect(events.get("upload", 0) >= 1, f"cudaGraphUpload succeeded, {events.get('upload', 0)} counted")
    check.expect(
        events.get("destroy", 0) >= profiled["explicit_destroys"],
        f"{profiled['explicit_destroys']} graph destroyed, {events.get('destroy', 0)} counted",
    )


def answers(profiled: dict, baseline: dict, captures: list[dict], process: dict, exit_seconds: str) -> None:
    """What this run says about the questions the first GPU run must answer (issue 10)."""
    print("\nWhat this run tells (docs/gpu-check.md, 'Questions'):")
    print(f"  torch maps at import: {baseline['cupti_mapped_at_import'] or 'no libcupti'}")
    print(f"  after CUDA init, without ProfileMate: {baseline['cupti_mapped_after_cuda_init'] or 'no libcupti'}")
    print(f"  after CUDA init, with ProfileMate: {profiled['cupti_mapped_after_cuda_init'] or 'no libcupti'}")
    print(f"  ProfileMate's log names: {process.get('versions', {})}")
    streams = sorted({c["stream_id"] for c in captures})
    print(f"  stream ids of captures (cuptiGetStreamIdEx on a capturing stream; 0 or empty: failed): {streams}")
    print(
        "  a launch counted once with its GPU time (driver cuGraphLaunch inside cudaGraphLaunch, "
        "joined on the runtime's correlation id): see gpu_replays == replays above"
    )
    log = process.get("log", {})
    print(
        f"  exit: {exit_seconds or '?'} s from the workload's last line to the process's end; "
        f"last record {(process.get('end_unix_ns', 0) - profiled['done_unix_ns']) / 1e6:.1f} ms after that line; "
        f"torn tail records: {log.get('torn_tail_records')}"
    )
    notes = profiled.get("notes", [])
    if notes:
        print(f"  workload notes: {notes}")
    if not profiled["capture_during_replays"]["overlapped"]:
        print("  the capture did not overlap the other thread's replays: that scenario was not exercised")


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 3
    export_dir = Path(sys.argv[1])
    profiled = json.loads(Path(sys.argv[2]).read_text(encoding="utf-8"))
    baseline = json.loads(Path(sys.argv[3]).read_text(encoding="utf-8"))
    exit_seconds = sys.argv[4] if len(sys.argv) == 5 else ""
    usage = read_csv(export_dir / "cuda_graph_usage.csv")
    replays = read_csv(export_dir / "cuda_graph_replays.csv")
    captures = read_csv(export_dir / "cuda_graph_captures.csv")
    metadata = json.loads((export_dir / "metadata.json").read_text(encoding="utf-8"))
    processes = [p for p in metadata["processes"] if p["log"]["records"] > 1] or metadata["processes"]
    if len(processes) != 1:
        raise ValueError(f"expected the workload's one process in the session, found {len(processes)}")
    process = processes[0]

    print(f"device: {profiled['device']}, torch {profiled['torch']}, CUDA {profiled['cuda']}")
    check = Check()
    found = check_graphs(check, profiled, usage, replays)
    worst = check_gpu_times(check, profiled, found)
    check_life_cycle(check, profiled, found, captures, process)
    dropped = metadata["totals"]["dropped_records"]
    check.expect(dropped == 0, f"{dropped} records dropped")
    for notice in metadata["notices"]:
        print(f"notice: [{notice['severity']}] {notice['source']}: {notice['message']}")
        check.expect(notice["severity"] != "fault", f"fault noticed: {notice['message']}")
    answers(profiled, baseline, captures, process, exit_seconds)

    latency_off = baseline["latency"]["host_launch_us_median"]
    latency_on = profiled["latency"]["host_launch_us_median"]
    tokens_off = baseline["decode"]["tokens_per_s_median"]
    tokens_on = profiled["decode"]["tokens_per_s_median"]
    timed_host = statistics.median(t["host_launch_us_median"] for t in profiled["timed"].values())
    for failure in check.failures:
        print(f"FAIL: {failure}")
    verdict = "PASS" if not check.failures else f"FAIL ({len(check.failures)} checks failed)"
    print(
        f"GPU CHECK: {verdict}: {len(found)}/{len(profiled['replays'])} graphs found, "
        f"GPU time worst {worst:.1f} us off the events (allowed {ABS_US:g} us + {REL:.0%}); "
        f"cudaGraphLaunch host median {latency_off:.2f} -> {latency_on:.2f} us "
        f"(x{latency_on / latency_off:.2f}; timed graphs {timed_host:.2f} us); "
        f"decode {tokens_off:.0f} -> {tokens_on:.0f} tokens/s (x{tokens_on / tokens_off:.3f}, median of "
        f"{len(profiled['decode']['tokens_per_s'])} runs); {profiled['device']}, torch {profiled['torch']}"
    )
    return 0 if not check.failures else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001 - any other error means no verdict, not a FAIL
        traceback.print_exc()
        print("check_session.py could not decide (above)")
        sys.exit(3)
