#!/usr/bin/env bash
# The native test suites (recorder, tools, injection with the driver simulator, the fuzz smoke
# test) under ThreadSanitizer and under AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/sanitizers.sh [thread|address]...   (both by default)
# Builds into build-tsan/ and build-asan/ (ccache when installed) and runs every test registered
# there (the Python tests and repository checks are not: see tests/CMakeLists.txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}
targets=(recorder_tests tools_tests injection_tests reader_fuzz_smoke_test)

launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# halt_on_error: the first report fails the test, also in a forked child whose exit status the
# test checks.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
export ASAN_OPTIONS="detect_stack_use_after_return=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

[ $# -gt 0 ] || set -- thread address
for sanitizer in "$@"; do
  case "$sanitizer" in
    thread) build=$root/build-tsan ;;
    address) build=$root/build-asan ;;
    *) echo "sanitizers.sh: unknown sanitizer '$sanitizer' (thread or address)" >&2; exit 2 ;;
  esac
  echo "[sanitizers] $sanitizer: building into $build"
  # No Parquet plugin: Arrow is not instrumented, and none of these suites loads it.
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROFILEMATE_SANITIZE="$sanitizer" -DPROFILEMATE_PARQUET=OFF \
        "${launcher[@]}" >/dev/null
  cmake --build "$build" -j"$jobs" --target "${targets[@]}" >/dev/null
  ctest --test-dir "$build" --output-on-failure -j"$jobs"
done
echo "[sanitizers] clean: $*"
