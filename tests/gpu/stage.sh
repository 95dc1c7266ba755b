#!/usr/bin/env bash
# Copies what a GPU machine needs into one folder: the two in-process libraries (next to each
# other, found through $ORIGIN) and the profilemate command.
#   tests/gpu/stage.sh [BUILD_DIR] [STAGE_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
stage=${2:-$root/gpu-stage}
mkdir -p "$stage"
cp "$build/recorder/libprofilemate_recorder.so" "$build/injection/libprofilemate_injection.so" \
   "$build/tools/profilemate" "$stage/"
echo "[stage] $(ls "$stage" | tr '\n' ' ')in $stage"
