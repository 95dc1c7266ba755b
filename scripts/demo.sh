#!/usr/bin/env bash
# ProfileMate's main job on the bundled example: `profilemate profile` a real vLLM generation on
# the CPU (examples/tiny_vllm: a tiny random-weight Mixtral-style MoE model served by vLLM's CPU
# build, from a cached environment that scripts/real_vllm_env.sh --cpu makes), then
# `profilemate stats` on the session.
#
# Where vLLM's CPU build cannot be installed (no network), the synthetic example stands in, and
# says so: examples/synthetic_vllm.cpp records a vLLM-like workload with simulated timings.
#   scripts/demo.sh [SESSION_DIR]      (default: build/demo/session)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
session=${1:-$build/demo/session}
cli=$build/tools/profilemate

if python=$("$root/scripts/real_vllm_env.sh" --cpu); then
  "$cli" profile -o "$session" --force -- "$python" "$root/examples/tiny_vllm/generate.py" --model moe
else
  echo "demo: vLLM's CPU build could not be installed: profiling the SYNTHETIC example instead" \
       "(simulated timings, no vLLM involved)" >&2
  rm -rf "$session"
  PROFILEMATE_SESSION_DIR=$session "$build/examples/synthetic_vllm" --steps 2000 --kv-blocks 2048
  "$cli" export "$session"
fi
echo
"$cli" stats "$session"
echo "Everything is in $session (CSV columns: docs/csv-reference.md; reports: docs/reports.md)"
