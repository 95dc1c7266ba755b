#!/usr/bin/env bash
# Runs the benchmarks behind the README's performance table. Not part of the tests: timings on a
# shared machine are noisy, so each figure is a median of repetitions next to a baseline.
set -euo pipefail
build=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
"$build/bench/profilemate_bench" --benchmark_filter=-ResidentMemory
# Alone, so that its "before" reading precedes the recorder's start.
"$build/bench/profilemate_bench" --benchmark_filter=ResidentMemory
