"""BlockPool hooks on vLLM's real BlockPool, built as vLLM's test_prefix_caching.py builds it:
allocations over cached blocks (evictions), prefix hits (touch), frees in vLLM's eviction order
(one-shot iterators, as vLLM passes them)."""

from __future__ import annotations

from collections import Counter

import pytest
from harness import Recorded, assert_same_transcript, run_recorded


@pytest.fixture(scope="module")
def recorded(module_tmp) -> Recorded:
    return run_recorded("block_pool", module_tmp)


def test_vllm_does_the_same_with_the_hooks(recorded: Recorded) -> None:
    assert_same_transcript(recorded)
    rounds = recorded.plain["rounds"]
    assert any(r["hits"] for r in rounds) and len(recorded.plain["evicted_block_ids"]) >= 20


def test_eviction_rows_name_the_blocks_vllm_evicted(recorded: Recorded) -> None:
    rows = recorded.csv("kv_cache_evictions.csv")
    got = Counter(int(r["block_id"]) for r in rows)
    expected = Counter(recorded.plain["evicted_block_ids"])
    assert got == expected, f"evicted block ids: CSV {sorted(got.elements())} != vLLM {sorted(expected.elements())}"
    removed = recorded.plain["kv_events"]["BlockRemoved"]
    assert len(rows) == removed, f"{len(rows)} eviction rows != {removed} BlockRemoved events"


def test_lifetimes_are_ordered(recorded: Recorded) -> None:
    rows = recorded.csv("kv_cache_evictions.csv")
    for row in rows:
        lifetime, idle = float(row["lifetime_sec"]), float(row["idle_sec"])
        assert 0 <= idle <= lifetime + 1e-6, row
    times = [float(r["timestamp_sec"]) for r in rows]
    assert times == sorted(times)
