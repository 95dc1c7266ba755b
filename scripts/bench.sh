#!/usr/bin/env bash
# Runs every benchmark behind docs/performance.md in one run and rewrites that page from what they
# printed (bench/performance_report.py): each figure next to a baseline measured in the same run.
# Not part of the tests: timings on a shared machine are noisy. --quick: a shorter smoke run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$root/bench/performance_report.py" --build "${BUILD_DIR:-$root/build}" "$@"
