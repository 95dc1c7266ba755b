#!/usr/bin/env bash
# ProfileMate on a real GPU, in one command (about a minute): docs/gpu-check.md.
#   tests/gpu/run_gpu_check.sh [STAGE_DIR]        (default: gpu-stage/, made by tests/gpu/stage.sh)
# Needs the CUDA driver, python3 with PyTorch, and the staged tree; nothing is built here.
# Runs tests/gpu/graph_workload.py without ProfileMate (baseline) and under CUDA_INJECTION64_PATH,
# exports the session with the staged profilemate and checks it (check_session.py); measures the
# GPU time of the MoE hooks' counting ops in replayed graphs (moe_counting.py).
# The last line is the verdict, and so is the exit code:
#   GPU CHECK: PASS ...        0   every check passed (the figures on the same line)
#   GPU CHECK: FAIL ...        1   ProfileMate got something wrong, or broke the workload
#   GPU CHECK: NO VERDICT ...  2   nothing could be checked here (no GPU, no torch, no stage, ...)
# Everything it wrote is in GPU_CHECK_DIR (default gpu-check-out/), and, when $OUT is set (the
# device tool's output folder), in $OUT/gpu-check.tar.gz. PYTHON: the interpreter (python3);
# GPU_CHECK_STEP_TIMEOUT: seconds each python step may take (120), a hang at exit included.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
stage=${1:-$root/gpu-stage}
work=${GPU_CHECK_DIR:-$root/gpu-check-out}
python=${PYTHON:-python3}
step_timeout=${GPU_CHECK_STEP_TIMEOUT:-120}
here=$root/tests/gpu

bundle() {
  if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    tar -czf "$OUT/gpu-check.tar.gz" -C "$(dirname "$work")" "$(basename "$work")" 2>/dev/null || true
  fi
}
no_verdict() {
  bundle
  echo "GPU CHECK: NO VERDICT: $*"
  exit 2
}
fail() {
  bundle
  echo "GPU CHECK: FAIL: $*"
  exit 1
}
say() { echo "[gpu-check] $*"; }

rm -rf "$work"
mkdir -p "$work" || no_verdict "cannot create $work"
exec > >(tee "$work/log.txt") 2>&1

[ -d "$stage" ] || no_verdict "no staged tree at $stage: make it on a build machine with tests/gpu/stage.sh and carry it"
"$here/check_stage.sh" "$stage" || no_verdict "the staged tree cannot run on this machine (above)"
"$stage/bin/profilemate" --version || no_verdict "$stage/bin/profilemate does not run here"
command -v "$python" >/dev/null || no_verdict "no $python on PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || say "nvidia-smi: not available"

say "probe: what torch loads and sees"
if ! timeout -k 10 "$step_timeout" "$python" "$here/graph_workload.py" --probe --out "$work/probe.json" >"$work/probe.log" 2>&1; then
  cat "$work/probe.log"
  no_verdict "$(tail -n 1 "$work/probe.log")"
fi
cat "$work/probe.log"
timeout -k 10 60 "$stage/bin/profilemate" diagnose --python "$python" -o "$work" >"$work/diagnose.log" 2>&1
say "profilemate diagnose (exit $?; no vLLM here, so its hook lines may report problems):"
cat "$work/diagnose.log"

say "baseline: the workload without ProfileMate"
timeout -k 10 "$step_timeout" "$python" "$here/graph_workload.py" --out "$work/baseline.json" >"$work/baseline.log" 2>&1
status=$?
if [ "$status" -ne 0 ]; then
  tail -n 20 "$work/baseline.log"
  no_verdict "the workload failed without ProfileMate (exit $status, baseline.log)"
fi

say "the workload under CUDA_INJECTION64_PATH"
CUDA_INJECTION64_PATH="$stage/lib/libprofilemate_injection.so" PROFILEMATE_ENABLE=1 \
  PROFILEMATE_SESSION_DIR="$work/session" \
  timeout -k 10 "$step_timeout" "$python" "$here/graph_workload.py" --out "$work/profiled.json" \
  >"$work/profiled.log" 2>&1
status=$?
exited_ns=$(date +%s%N)
grep -F '[ProfileMate]' "$work/profiled.log" || say "no [ProfileMate] line on stderr"
if [ "$status" -ne 0 ]; then
  tail -n 20 "$work/profiled.log"
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    fail "the workload under ProfileMate did not end within ${step_timeout} s (it does without)"
  fi
  fail "the workload failed under ProfileMate (exit $status, profiled.log), and not without it"
fi
exit_seconds=$("$python" -c "import json,sys; print(f'{($exited_ns - json.load(open(sys.argv[1]))[\"done_unix_ns\"]) / 1e9:.2f}')" \
  "$work/profiled.json") || no_verdict "profiled.json is unreadable"
ls -l "$work/session" 2>&1
if ! compgen -G "$work/session/process_*.pmlog" >/dev/null; then
  fail "ProfileMate wrote no log (injection library mapped in the workload: $("$python" -c \
    "import json,sys; print(json.load(open(sys.argv[1]))['profilemate_injection_mapped'] or 'no')" "$work/profiled.json"))"
fi

"$stage/bin/profilemate" export "$work/session" --output "$work/export" ||
  fail "profilemate export failed on the session ProfileMate wrote"
"$stage/bin/profilemate" stats "$work/session" --report graphs,health || fail "profilemate stats failed"

# vLLM's Ray executor runs only on a GPU build of vLLM: checked where this python has one and Ray.
ray_failed=""
if "$python" -c "import vllm, ray" >/dev/null 2>&1; then
  say "Ray executor: the bundled example under profilemate profile (--executor ray)"
  timeout -k 10 600 "$stage/bin/profilemate" profile -o "$work/ray-session" --force -- "$python" \
    "$root/examples/tiny_vllm/generate.py" --model moe --requests 8 --max-tokens 16 --executor ray \
    >"$work/ray.log" 2>&1
  status=$?
  tail -n 15 "$work/ray.log"
  tokens=$(sed -n 's/^generated \([0-9]*\) tokens.*/\1/p' "$work/ray.log")
  if [ "$status" -ne 0 ] || [ -z "$tokens" ]; then
    ray_failed="the example with --executor ray failed under profilemate profile (exit $status, ray.log)"
  elif ! "$python" "$here/check_ray_session.py" "$work/ray-session" "$tokens"; then
    ray_failed="the Ray executor's session is wrong (above)"
  fi
else
  say "Ray executor: not checked: $python cannot import both vllm and ray here"
fi

# The GPU time of the MoE hooks' counting ops in a replayed graph (the hooks from the stage, no vLLM).
say "MoE counting: its ops' GPU time in CUDA graphs"
PYTHONPATH="$stage/lib/python${PYTHONPATH:+:$PYTHONPATH}" timeout -k 10 "$step_timeout" "$python" \
  "$here/moe_counting.py" --out "$work/moe_counting.json" >"$work/moe_counting.log" 2>&1
status=$?
tail -n 1 "$work/moe_counting.log"
moe_failed=""
[ "$status" -eq 0 ] || moe_failed="the MoE counting check failed (exit $status, moe_counting.log)"

"$python" "$here/check_session.py" "$work/export" "$work/profiled.json" "$work/baseline.json" "$exit_seconds"
status=$?
[ "$status" -le 1 ] || no_verdict "check_session.py could not decide (exit $status)"
[ -z "$ray_failed" ] || fail "$ray_failed (the graph workload's verdict is the line above)"
[ -z "$moe_failed" ] || fail "$moe_failed (the graph workload's verdict is the line above)"
bundle
# check_session.py printed the verdict line for 0 and 1.
exit "$status"
