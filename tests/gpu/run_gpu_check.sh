#!/usr/bin/env bash
# ProfileMate on a real GPU, in one command (a few minutes):
#   tests/gpu/run_gpu_check.sh [STAGE_DIR]
# Needs the CUDA driver, PyTorch with CUDA and python3. The two in-process libraries come from
# STAGE_DIR (default gpu-stage/, made on a build machine by `tests/gpu/stage.sh`), or are built
# here when the build dependencies are present. Writes into $OUT (default gpu-check-out/):
# baseline.json and profiled.json (what the workload measured), session/ (the ProfileMate logs,
# for `profilemate export` on any machine), and, when the profilemate command runs here, the
# export and the check's verdict.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
stage=${1:-$root/gpu-stage}
out=${OUT:-$root/gpu-check-out}
mkdir -p "$out"

if [ ! -f "$stage/libprofilemate_injection.so" ]; then
  echo "[gpu-check] no staged libraries in $stage: building them"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" --target profilemate_injection profilemate -j"$(nproc)"
  "$root/tests/gpu/stage.sh" "$root/build" "$stage"
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true

echo "[gpu-check] baseline: the workload without ProfileMate"
python3 "$root/tests/gpu/graph_workload.py" --out "$out/baseline.json" >/dev/null

echo "[gpu-check] the workload under CUDA_INJECTION64_PATH"
rm -rf "$out/session"
CUDA_INJECTION64_PATH="$stage/libprofilemate_injection.so" PROFILEMATE_ENABLE=1 \
  PROFILEMATE_SESSION_DIR="$out/session" \
  python3 "$root/tests/gpu/graph_workload.py" --out "$out/profiled.json" >/dev/null
ls -l "$out/session"

if "$stage/profilemate" --version >/dev/null 2>&1; then
  "$stage/profilemate" export "$out/session" --output "$out/export"
  python3 "$root/tests/gpu/check_session.py" "$out/export" "$out/profiled.json" "$out/baseline.json"
else
  echo "[gpu-check] the profilemate command cannot run here: on a build machine, run"
  echo "  profilemate export $out/session --output $out/export"
  echo "  tests/gpu/check_session.py $out/export $out/profiled.json $out/baseline.json"
fi
