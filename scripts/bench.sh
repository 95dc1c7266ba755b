#!/usr/bin/env bash
# Runs the benchmarks behind the README's performance table. Not part of the tests: timings on a
# shared machine are noisy, so each figure is a median of repetitions next to a baseline.
set -euo pipefail
build=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
# Export: the 10 M-event session, the read of its bytes and the Python converter, in one run.
"$build/bench/profilemate_bench" --benchmark_filter='Baseline_Read|Baseline_Python|Export'
"$build/bench/profilemate_bench" --benchmark_filter='-ResidentMemory&-Export&-Baseline_Read&-Baseline_Python' 2>/dev/null ||
  "$build/bench/profilemate_bench" --benchmark_filter='Record|Writer|Injection'
# Peak resident memory of `profilemate export` on a 1 M- and a 10 M-record session.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for events in 1000000 10000000; do
  PROFILEMATE_BENCH_SESSION_DIR="$work/s$events" PROFILEMATE_BENCH_EVENTS=$events \
    "$build/bench/profilemate_bench" --benchmark_filter=Baseline_Read >/dev/null
  /usr/bin/time -f "export of $events records: peak RSS %M kB, %e s wall, %U s user" \
    "$build/tools/profilemate" export "$work/s$events" -o "$work/out$events" >/dev/null
done
# Alone, so that its "before" reading precedes the recorder's start.
"$build/bench/profilemate_bench" --benchmark_filter=ResidentMemory
