#!/usr/bin/env bash
# Regenerates the golden session and its expected export. Run after a deliberate change to the
# synthetic workload, the schema or the CSV layout, then review the diff of expected/ by eye:
#   tests/golden/regenerate.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
case_dir=$here/synthetic
rm -rf "$case_dir/session" "$case_dir/expected"
PROFILEMATE_SESSION_DIR=$case_dir/session "$build/examples/synthetic_vllm" --steps 60 --seed 3 --kv-blocks 512
"$build/tools/profilemate" export "$case_dir/session" --output "$case_dir/expected"
chmod 644 "$case_dir"/session/*.pmlog
chmod 755 "$case_dir/session"
echo "Regenerated $case_dir"
