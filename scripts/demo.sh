#!/usr/bin/env bash
# ProfileMate's main job on the bundled example: record a session, export it, show what it says.
# Until the injection library and the vLLM hooks land, the example is a synthetic two-process
# vLLM-like workload with simulated timings (examples/synthetic_vllm.cpp), not a real vLLM run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
session=${1:-$build/demo/session}

rm -rf "$session"
PROFILEMATE_SESSION_DIR=$session "$build/examples/synthetic_vllm" --steps 2000 --kv-blocks 2048
"$build/tools/profilemate" export "$session"

show() {
  echo
  echo "== $1 (first rows)"
  python3 - "$session/$1" "${2:-5}" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))[: int(sys.argv[2])]
widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
for row in rows:
    print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
PY
}
show cuda_graph_usage.csv 6
show batch_utilization.csv
show kv_cache_usage.csv 3
show preemption_events.csv 3
echo
echo "Everything is in $session (columns: docs/csv-reference.md)"
