#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for ProfileMate and builds it:
#   1. installs the Debian packages it needs (as root, or through sudo);
#   2. configures and builds into build/ (or $BUILD_DIR).
# The CUDA toolkit is expected to be installed already (its headers only: CUPTI and NVTX3).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}

packages=(
  cmake g++ make pkg-config
  libprotobuf-dev protobuf-compiler python3-protobuf  # libprotobuf for the tools, protoc
  nanopb libnanopb-dev                                # the in-process encoder
  libzstd-dev                                         # log compression (recorder and tools)
  libgtest-dev libgmock-dev libbenchmark-dev          # tests and benchmarks
  python3-dev python3-venv                            # the Python extension (pyhooks), its tests' venv
  clang-format clang-tidy                             # style checks
  ccache                                              # rebuilds (and the sanitizer builds) reuse objects
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "[setup] installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v nvcc >/dev/null 2>&1; then
  for candidate in /usr/local/cuda/bin /usr/local/cuda-13*/bin; do
    [ -x "$candidate/nvcc" ] && export PATH="$candidate:$PATH" && break
  done
fi
command -v nvcc >/dev/null 2>&1 || {
  echo "[setup] the CUDA toolkit was not found (no nvcc on PATH or in /usr/local/cuda/bin): install it first" >&2
  exit 1
}

# PyPI packages for the tests live in a virtual environment of the project's own.
if [ ! -x "$root/.venv/bin/python" ]; then
  python3 -m venv "$root/.venv"
fi
# pyarrow also provides the Arrow C++ libraries that `export --type parquet` is built against
# (Debian 12 packages no Arrow); duckdb reads the export back in the tests.
"$root/.venv/bin/python" -m pip install -q --disable-pip-version-check pytest scikit-build-core ruff perfetto \
  pyarrow duckdb

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DPROFILEMATE_PARQUET=ON -DPROFILEMATE_ARROW_PYTHON="$root/.venv/bin/python"
cmake --build "$build" -j"$(nproc)"
echo "[setup] built into $build"
