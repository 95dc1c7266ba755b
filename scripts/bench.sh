#!/usr/bin/env bash
# Runs the benchmarks behind the README's performance table. Not part of the tests: timings on a
# shared machine are noisy, so each figure is a median of repetitions next to a baseline.
set -euo pipefail
build=${BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}
# The export benchmarks run the 10 M-event session's export next to the read of its bytes and
# the Python converter (python3-protobuf + csv) on the same log.
"$build/bench/profilemate_bench" --benchmark_filter=-ResidentMemory
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
