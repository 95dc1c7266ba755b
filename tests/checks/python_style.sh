#!/usr/bin/env bash
# Every Python source is `ruff format` clean and passes `ruff check` (ruff.toml at the top of the
# repository). RUFF: the ruff to use (scripts/setup.sh installs one into .venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
ruff=${RUFF:-.venv/bin/ruff}
"$ruff" format --check --quiet .
"$ruff" check --quiet .
echo "ok: Python sources are ruff clean ($("$ruff" --version))"
