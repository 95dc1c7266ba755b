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

# show FILE ROWS COLUMNS: a few columns of the first rows, as a table.
show() {
  echo
  echo "== $1 (first rows; every column is in the file)"
  python3 - "$session/$1" "$2" "$3" <<'PY'
import csv, sys
path, count, wanted = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
rows = list(csv.DictReader(open(path)))[:count]
table = [wanted] + [[row[name] for name in wanted] for row in rows]
widths = [max(len(line[i]) for line in table) for i in range(len(wanted))]
for line in table:
    print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
PY
}
show cuda_graph_usage.csv 5 runtime_mode,num_tokens,num_reqs,replay_count,gpu_time_total_ms,gpu_time_p50_us,gpu_time_p99_us,cpu_launch_mean_us
show batch_utilization.csv 4 timestamp_sec,phase,num_seqs,seq_utilization_pct,num_tokens,token_utilization_pct,waiting_queue_len,kv_usage_pct
show preemption_events.csv 3 timestamp_sec,request_id,event,reason,running_time_sec,computed_tokens_lost,kv_usage_before_pct
show moe_expert_selection.csv 8 layer_idx,expert_id,activation_count,percentage,process_role
echo
echo "Everything is in $session (columns and units: docs/csv-reference.md)"
