#!/usr/bin/env python3
"""Checks a ProfileMate session recorded on a GPU against what graph_workload.py knows.

    check_session.py EXPORT_DIR PROFILED_JSON BASELINE_JSON

EXPORT_DIR holds `profilemate export` output. Checks, for every graph of the workload: exactly
one executable graph with its replay count, every replay with GPU time, and ProfileMate's mean
GPU time within 5% of the torch.cuda.Event timing. Prints the host latency of a replay with and
without ProfileMate. Exits non-zero if a check fails. Standard library only.
"""

import csv
import json
import sys
from pathlib import Path

TOLERANCE = 0.05


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    export_dir, profiled_path, baseline_path = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    profiled = json.loads(Path(profiled_path).read_text(encoding="utf-8"))
    baseline = json.loads(Path(baseline_path).read_text(encoding="utf-8"))
    with open(export_dir / "cuda_graph_usage.csv", newline="", encoding="utf-8") as f:
        usage = list(csv.DictReader(f))

    failures = 0
    print(f"device: {profiled['device']}, torch {profiled['torch']}, CUDA {profiled['cuda']}")
    print(
        f"{'batch':>6} {'replays':>8} {'found':>6} {'gpu_replays':>11} {'torch_us':>9} {'ours_us':>9} "
        f"{'diff':>6} {'host_us_off':>11} {'host_us_on':>10}"
    )
    for batch, want in profiled["graphs"].items():
        rows = [r for r in usage if int(r["replay_count"]) == want["replays"]]
        row = rows[0] if len(rows) == 1 else None
        torch_us = want["gpu_ms_mean"] * 1000
        ours_us = float(row["gpu_time_mean_us"]) if row and row["gpu_time_mean_us"] else float("nan")
        diff = abs(ours_us - torch_us) / torch_us if torch_us else float("nan")
        gpu_replays = int(row["gpu_replays"]) if row else 0
        ok = row is not None and gpu_replays == want["replays"] and diff <= TOLERANCE
        failures += 0 if ok else 1
        print(
            f"{batch:>6} {want['replays']:>8} {len(rows):>6} {gpu_replays:>11} {torch_us:>9.1f} {ours_us:>9.1f} "
            f"{diff:>6.1%} {baseline['graphs'][batch]['host_launch_us_median']:>11.1f} "
            f"{want['host_launch_us_median']:>10.1f} {'ok' if ok else 'FAIL'}"
        )
    print("passed" if failures == 0 else f"{failures} check(s) failed")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
