"""Scheduler, preemption and KV usage hooks on vLLM's real Scheduler (with its real KVCacheManager
and BlockPool), driven as EngineCore drives it, with fake model outputs: many steps, preemptions
for lack of KV blocks and by reset_prefix_cache, prefix-cache hits and evictions, an abort."""

from __future__ import annotations

from collections import Counter

import pytest
from harness import Recorded, assert_same_transcript, by_step, pct_matches, run_recorded


@pytest.fixture(scope="module")
def recorded(module_tmp) -> Recorded:
    return run_recorded("scheduler", module_tmp)


def test_vllm_does_the_same_with_the_hooks(recorded: Recorded) -> None:
    assert_same_transcript(recorded)
    t = recorded.plain
    # The workload really exercised what the hooks record (else "identical" proves little).
    in_schedule = sum(len(s["preempted"]) for s in t["steps"]) - sum(
        len(p["requests"]) for p in t["outside_preemptions"]
    )
    assert in_schedule >= 3, f"only {in_schedule} preemptions for lack of KV blocks"
    assert t["outside_preemptions"] and t["aborted"]
    assert t["kv_events"].get("BlockRemoved", 0) >= 20, t["kv_events"]
    assert t["prefix_cache"]["hits"] > 0, t["prefix_cache"]


def test_the_hooks_find_every_scheduler_target_in_real_vllm(recorded: Recorded) -> None:
    applied = recorded.applied_components()
    for component in ("Scheduler", "Preemption", "KVCacheManager", "BlockPool"):
        assert component in applied, f"{component} was not patched in vLLM {recorded.plain['vllm_version']}"
    targets = {p["target"] for p in recorded.metadata()["patches"]}
    applied_targets = {p["target"] for p in recorded.metadata()["patches"] if p["applied"]}
    scheduler_side = {t for t in targets if "CUDAGraph" not in t}
    assert scheduler_side <= applied_targets, f"never applied: {sorted(scheduler_side - applied_targets)}"


def test_no_target_is_reported_missing_while_its_module_is_still_importing(recorded: Recorded) -> None:
    missing = [
        (p["target"], p["reason"])
        for p in recorded.metadata()["patches"]
        if not p["applied"] and "CUDAGraph" not in p["target"]
    ]
    assert not missing, f"reported missing, yet present in vLLM {recorded.plain['vllm_version']}: {missing}"


def test_one_batch_utilization_row_per_step_equal_to_the_scheduler_output(recorded: Recorded) -> None:
    t = recorded.plain
    rows = by_step(recorded.csv("batch_utilization.csv"), "batch_utilization.csv")
    assert sorted(rows) == [s["step"] for s in t["steps"]], "steps recorded != schedule() calls"
    limits = t["limits"]
    for s in t["steps"]:
        row = rows[s["step"]]
        where = f"batch_utilization.csv step {s['step']}"
        expected = {
            "num_seqs": len(s["scheduled"]),
            "num_tokens": s["total_num_scheduled_tokens"],
            "max_num_seqs": limits["max_num_seqs"],
            "max_tokens": limits["max_num_scheduled_tokens"],
            "running_queue_len": s["request_counts"][0],
            "waiting_queue_len": s["request_counts"][1],
        }
        got = {k: int(row[k]) for k in expected}
        assert got == expected, f"{where}: CSV {got} != vLLM {expected}"
        assert int(row["num_prefill_seqs"]) + int(row["num_decode_seqs"]) == len(s["scheduled"]), where
        assert int(row["num_prefill_tokens"]) + int(row["num_decode_tokens"]) == s["total_num_scheduled_tokens"], where
        assert pct_matches(row["kv_usage_pct"], s["usage"]), (
            f"{where}: kv_usage_pct {row['kv_usage_pct']} != {s['usage']}"
        )
        assert (row["phase"] == "idle") == (not s["scheduled"]), f"{where}: phase {row['phase']}"


def test_the_prefill_decode_split_is_vllms(recorded: Recorded) -> None:
    rows = by_step(recorded.csv("batch_utilization.csv"), "batch_utilization.csv")
    wrong = []
    for s in recorded.plain["steps"]:
        row = rows[s["step"]]
        got = (
            int(row["num_prefill_seqs"]),
            int(row["num_prefill_tokens"]),
            int(row["num_decode_seqs"]),
            int(row["num_decode_tokens"]),
        )
        vllm = (s["context_reqs"], s["context_tokens"], s["generation_reqs"], s["generation_tokens"])
        if got != vllm:
            wrong.append(f"step {s['step']}: CSV {got} != vLLM {vllm}")
    assert not wrong, "prefill/decode (seqs, tokens) differ from vLLM's compute_iteration_details:\n" + "\n".join(wrong)


def test_kv_cache_usage_is_get_usage_at_every_step(recorded: Recorded) -> None:
    t = recorded.plain
    rows = by_step(recorded.csv("kv_cache_usage.csv"), "kv_cache_usage.csv")
    assert sorted(rows) == [s["step"] for s in t["steps"]], "kv_cache_usage.csv: one sample per schedule() expected"
    total = t["limits"]["num_gpu_blocks"] - 1  # block 0 is vLLM's null block
    for s in t["steps"]:
        row = rows[s["step"]]
        where = f"kv_cache_usage.csv step {s['step']}"
        assert pct_matches(row["usage_pct"], s["usage"]), (
            f"{where}: usage_pct {row['usage_pct']} != get_usage() {s['usage']}"
        )
        assert int(row["total_blocks"]) == total, f"{where}: total_blocks {row['total_blocks']} != {total}"
        assert int(row["num_blocks"]) == total - s["free_blocks"], (
            f"{where}: num_blocks {row['num_blocks']} != {total - s['free_blocks']} (total - get_num_free_blocks())"
        )
        assert abs(int(row["num_blocks"]) / total - s["usage"]) < 1e-9, where


def test_preemption_rows_are_the_requests_num_preemptions(recorded: Recorded) -> None:
    t = recorded.plain
    all_rows = recorded.csv("preemption_events.csv")
    rows = [r for r in all_rows if r["event"] == "preempted"]
    per_request = Counter(r["request_id"] for r in rows)
    expected = {rid: r["num_preemptions"] for rid, r in t["requests"].items() if r["num_preemptions"]}
    assert dict(per_request) == expected, (
        f"preemption rows per request {dict(per_request)} != num_preemptions {expected}"
    )

    # Why, and what it cost: vLLM's SchedulerOutput.preempted_req_ids and num_computed_tokens.
    outside = Counter(rid for p in t["outside_preemptions"] for rid in p["requests"])
    inside = Counter(rid for s in t["steps"] for rid in s["preempted"]) - outside
    reasons = {
        reason: Counter(r["request_id"] for r in rows if r["reason"] == reason)
        for reason in ("kv_cache_full", "reset_prefix_cache")
    }
    assert reasons["kv_cache_full"] == inside, f"kv_cache_full rows {reasons['kv_cache_full']} != in-schedule {inside}"
    assert reasons["reset_prefix_cache"] == outside, (
        f"reset_prefix_cache rows {reasons['reset_prefix_cache']} != {outside}"
    )

    # computed_tokens_lost is num_computed_tokens just before: read before schedule() for the
    # preemptions inside it, before reset_prefix_cache for the others (reported by the next step).
    reported_late = {(p["before_step"], rid) for p in t["outside_preemptions"] for rid in p["requests"]}
    lost_expected = Counter(
        (rid, computed)
        for s in t["steps"]
        for rid, computed in s["preempted_computed_tokens"].items()
        if (s["step"], rid) not in reported_late
    )
    lost_expected.update(
        (rid, computed) for p in t["outside_preemptions"] for rid, computed in p["computed_tokens"].items()
    )
    lost = Counter((r["request_id"], int(r["computed_tokens_lost"])) for r in rows)
    assert lost == lost_expected, f"computed_tokens_lost {sorted(lost.items())} != vLLM {sorted(lost_expected.items())}"
    for r in rows:
        assert 0 <= float(r["kv_usage_before_pct"]) <= 100 and int(r["blocks_freed"]) >= 0, r

    # Each resumption follows a preemption of its request, with that preemption's tokens, of
    # which the prefix cache held at most all.
    waiting: dict[str, str] = {}
    resumed = 0
    for r in all_rows:
        if r["event"] == "preempted":
            waiting[r["request_id"]] = r["computed_tokens_lost"]
            continue
        assert r["event"] == "resumed", r
        resumed += 1
        assert waiting.pop(r["request_id"]) == r["computed_tokens_lost"], r
        found, recomputed = int(r["tokens_found_in_cache"]), int(r["tokens_recomputed"])
        assert found + recomputed == int(r["computed_tokens_lost"]) and found >= 0 and recomputed >= 0, r
    assert resumed > 0, "no preempted request was resumed: the workload should resume some"


def test_one_eviction_row_per_block_vllm_evicted(recorded: Recorded) -> None:
    rows = recorded.csv("kv_cache_evictions.csv")
    removed = recorded.plain["kv_events"].get("BlockRemoved", 0)
    assert len(rows) == removed, (
        f"kv_cache_evictions.csv has {len(rows)} rows, vLLM emitted {removed} BlockRemoved events"
    )
    for r in rows:
        assert 0 <= float(r["idle_sec"]) <= float(r["lifetime_sec"]) + 1e-6, r


def test_prefix_cache_lookups_are_counted_as_vllm_counts_them(recorded: Recorded) -> None:
    rows = [
        r for r in recorded.csv("cpu_operations_timing.csv") if r["operation"] == "kv_cache_manager.get_computed_blocks"
    ]
    assert rows, "no kv_cache_manager.get_computed_blocks rows in cpu_operations_timing.csv"
    got = Counter()
    for r in rows:
        fields = dict(item.split("=", 1) for item in r["context"].split() if "=" in item)
        got.update({k: int(fields.get(k, 0)) for k in ("lookups", "queried_tokens", "hit_tokens", "preempted_lookups")})
    p = recorded.plain["prefix_cache"]
    # As vLLM's PrefixCacheStats (and vllm:prefix_cache_queries/hits): lookups of preempted
    # requests apart.
    expected = {
        "lookups": p["requests"],
        "queried_tokens": p["queries"],
        "hit_tokens": p["hits"],
        "preempted_lookups": p["preempted_requests"],
    }
    assert +got == +Counter(expected), f"cpu_operations prefix-cache counts {dict(got)} != vLLM's {expected}"
