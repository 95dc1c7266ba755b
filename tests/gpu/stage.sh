#!/usr/bin/env bash
# Builds and installs, into one folder, everything the GPU check needs on a machine that has only a
# CUDA driver, python3 and PyTorch:
#   tests/gpu/stage.sh [BUILD_DIR] [STAGE_DIR]      (defaults: build/, gpu-stage/)
# The folder is `cmake --install`'s layout, stripped: bin/profilemate (Protobuf and zstd linked in,
# PROFILEMATE_STATIC_TOOLS), lib/libprofilemate_{recorder,injection}.so (the injection library finds
# the recorder through $ORIGIN), lib/python (sitecustomize.py and the profilemate package, whose
# extension finds the recorder through $ORIGIN/../..). tests/gpu/check_stage.sh then checks that
# nothing in it needs a library from outside it other than the system's own.
# gpu-stage/ is git-ignored; the device tool's `run` takes it along with carry: ["gpu-stage"].
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
stage=${2:-$root/gpu-stage}
marker=.profilemate-gpu-stage

# Replaced whole, so that nothing stale travels; but never a folder this script did not make.
if [ -e "$stage" ] && [ ! -e "$stage/$marker" ] && [ -n "$(ls -A "$stage")" ]; then
  echo "[stage] $stage exists and was not made by stage.sh: not replacing it" >&2
  exit 1
fi
rm -rf "$stage"
cmake --build "$build" --target profilemate profilemate_injection pyhooks -j"${STAGE_JOBS:-2}" >/dev/null
# Everything but the Parquet export's plugin and Arrow's libraries (about 50 MB, which the device
# tool's carry could hardly take): the check exports CSV.
cmake --install "$build" --prefix "$stage" --strip --component Unspecified >/dev/null
touch "$stage/$marker"
"$root/tests/gpu/check_stage.sh" "$stage"
echo "[stage] $(du -sh "$stage" | cut -f1) in $stage"
