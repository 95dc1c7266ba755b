#!/usr/bin/env bash
# Regenerates the expected output of `profilemate stats` and `compare` for the golden sessions
# (tests/golden/synthetic/session and tests/golden/reports/session_b). Run after a deliberate
# change to a report, then review the diff by eye:
#   tests/golden/reports/regenerate.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=$(cd "${1:-$here/../../../build}" && pwd)/tools/profilemate
cd "$here/.."  # relative session paths: the compare notes name them
"$cli" stats synthetic/session >reports/stats.txt
"$cli" stats synthetic/session --format json >reports/stats.json
"$cli" stats synthetic/session --report steps --format csv >reports/steps.csv
"$cli" compare synthetic/session reports/session_b >reports/compare.txt
"$cli" compare synthetic/session reports/session_b --report graphs,kv --format csv >reports/compare.csv
echo "Regenerated $here"
