#!/usr/bin/env bash
# Every C and C++ source is clang-format clean (.clang-format at the top of the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."
files=$(git ls-files '*.c' '*.cc' '*.cpp' '*.h' 2>/dev/null || find . -name '*.cpp' -o -name '*.h' | grep -v '^./build')
clang-format --dry-run -Werror $files
echo "ok: $(echo "$files" | wc -w) files are clang-format clean"
