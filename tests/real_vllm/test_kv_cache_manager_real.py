"""KVCacheManager hooks on vLLM's real KVCacheManager, made as vLLM's test_prefix_caching.py makes
it: prefix lookups over shared prompt prefixes, allocations (some refused for lack of blocks),
growth by decoding, frees, and allocations that evict cached blocks."""

from __future__ import annotations

from collections import Counter

import pytest
from harness import Recorded, assert_same_transcript, run_recorded


@pytest.fixture(scope="module")
def recorded(module_tmp) -> Recorded:
    return run_recorded("kv_cache_manager", module_tmp)


def _operations(recorded: Recorded) -> dict[str, Counter]:
    """cpu_operations rows of the KV cache manager, summed per operation (calls and context fields)."""
    totals: dict[str, Counter] = {}
    for row in recorded.csv("cpu_operations_timing.csv"):
        if not row["operation"].startswith("kv_cache_manager."):
            continue
        fields = dict(item.split("=", 1) for item in row["context"].split() if "=" in item)
        total = totals.setdefault(row["operation"].split(".", 1)[1], Counter())
        total.update({k: int(v) for k, v in fields.items() if v.isdigit()})
        assert float(row["duration_ms"]) >= 0, row
    return totals


def test_vllm_does_the_same_with_the_hooks(recorded: Recorded) -> None:
    assert_same_transcript(recorded)
    calls = recorded.plain["calls"]
    assert calls["allocate_slots_refused"] > 0 and recorded.plain["kv_events"].get("BlockRemoved", 0) > 0, calls
    assert recorded.plain["prefix_cache"]["hits"] > 0


def test_calls_and_refusals_are_vllms(recorded: Recorded) -> None:
    assert "KVCacheManager" in recorded.applied_components()
    ops = _operations(recorded)
    calls = recorded.plain["calls"]
    got = {name: ops.get(name, Counter())["calls"] for name in ("get_computed_blocks", "allocate_slots", "free")}
    expected = {name: calls[name] for name in got}
    assert got == expected, f"cpu_operations calls {got} != calls made {expected}"
    failed = ops["allocate_slots"]["failed"]
    assert failed == calls["allocate_slots_refused"], (
        f"allocate_slots failed={failed} != {calls['allocate_slots_refused']} calls that returned None"
    )


def test_prefix_cache_counts_are_vllms_prefix_cache_stats(recorded: Recorded) -> None:
    lookups = _operations(recorded)["get_computed_blocks"]
    p = recorded.plain["prefix_cache"]
    got = {k: lookups[k] for k in ("lookups", "queried_tokens", "hit_tokens", "preempted_lookups")}
    # As vLLM's PrefixCacheStats: lookups of preempted requests apart.
    expected = {
        "lookups": p["requests"],
        "queried_tokens": p["queries"],
        "hit_tokens": p["hits"],
        "preempted_lookups": p["preempted_requests"],
    }
    assert got == expected, f"hooks' prefix-cache counts {got} != vLLM's make_prefix_cache_stats() {expected}"


def test_one_eviction_row_per_block_removed_event(recorded: Recorded) -> None:
    rows = recorded.csv("kv_cache_evictions.csv")
    removed = recorded.plain["kv_events"]["BlockRemoved"]
    assert len(rows) == removed, f"{len(rows)} eviction rows != {removed} BlockRemoved events from vLLM"
