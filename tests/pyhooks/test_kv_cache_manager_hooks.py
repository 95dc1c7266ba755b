"""KVCacheManager: allocation, lookup and free summed per window into cpu_operations rows, failed
allocations counted, and the prefix cache's queries and hits equal to what vLLM records."""

from __future__ import annotations

import re


def test_calls_failures_and_prefix_hits_are_summed_as_vllm_counts_them(run_workload) -> None:
    run = run_workload("""
from standin_parts import Request
from vllm.v1.core.kv_cache_manager import KVCacheManager
manager = KVCacheManager(num_gpu_blocks=11)          # 10 usable blocks of 16 tokens
requests = [Request(f"r{i}", 0, 0.0, num_tokens=64 + i, cached_tokens=16 * (i % 3)) for i in range(6)]
requests[4].skip_reading_prefix_cache = True         # vLLM does not count its lookup
failed = 0
for request in requests:
    _, hits, _ = manager.get_computed_blocks(request)
    manager.record_prefix_cache_stats(request, hits)
    failed += manager.allocate_slots(request, request.num_tokens) is None
manager.free(requests[0])
print(failed, sum(t for t, _ in manager.lookups), sum(h for _, h in manager.lookups), len(manager.lookups))
""")
    failed, queries, hits, lookups = run.stdout.split()
    rows = {r["operation"]: r for r in run.csv("cpu_operations_timing.csv")}
    allocate = rows["kv_cache_manager.allocate_slots"]["context"]
    assert re.match(rf"calls=6 steps=0-0 failed={failed}$", allocate), allocate
    assert int(failed) == 4, "the stand-in pool should have run out after two requests"
    lookup = rows["kv_cache_manager.get_computed_blocks"]["context"]
    assert lookup.endswith(f"lookups={lookups} queried_tokens={queries} hit_tokens={hits}"), lookup
    assert rows["kv_cache_manager.free"]["context"].startswith("calls=1 "), rows["kv_cache_manager.free"]
    assert all(float(r["duration_ms"]) >= 0 for r in rows.values())


def test_older_vllm_prefix_lookups_are_counted_from_get_computed_blocks(run_workload) -> None:
    run = run_workload(
        """
from standin_parts import Request
from vllm.v1.core.kv_cache_manager import KVCacheManager
manager = KVCacheManager(num_gpu_blocks=101)
assert not hasattr(manager, "record_prefix_cache_stats")
for i in range(5):
    manager.get_computed_blocks(Request(f"r{i}", 0, 0.0, num_tokens=100 + i, cached_tokens=32 * (i % 2)))
print(sum(t for t, _ in manager.lookups), sum(h for _, h in manager.lookups), len(manager.lookups))
""",
        era="vllm_2025",
    )
    queries, hits, lookups = run.stdout.split()
    rows = {r["operation"]: r["context"] for r in run.csv("cpu_operations_timing.csv")}
    assert rows["kv_cache_manager.get_computed_blocks"].endswith(
        f"lookups={lookups} queried_tokens={queries} hit_tokens={hits}"
    ), rows
    assert "lookups are counted from get_computed_blocks" in run.stderr
