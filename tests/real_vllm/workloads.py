"""Workloads on real vLLM objects, for the real-vLLM tier. Run in a fresh interpreter:

    python workloads.py WORKLOAD TRANSCRIPT.json WORKDIR

Each workload builds vLLM's own objects the way vLLM's CPU-only tests do (tests/v1/core/utils.py,
test_prefix_caching.py), drives them, and writes a JSON transcript of what vLLM did, read only
through vLLM's own objects and getters. The same workload runs once without ProfileMate and once
with its hooks: the transcripts must be identical, and the hooks' CSV files must agree with them.

Everything in a transcript is deterministic (no times, no addresses). The "vllm" parts that
name counters (usage, preemptions, evictions) are what the tests compare the CSV files with.
Reading them may drain vLLM's getters (take_events, make_stats): the workload does that in both
runs alike; the hooks never do.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

# The model configurations of the bundled example (examples/tiny_vllm): tiny, random weights
# (load_format="dummy"), local, so that nothing is fetched. head_dim 64 is the smallest vLLM's CPU
# attention accepts; the MoE sizes are multiples of 32, as vLLM's CPU MoE requires.
_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny_vllm"
DENSE_CONFIG: dict[str, Any] = json.loads((_EXAMPLE / "dense" / "config.json").read_text(encoding="utf-8"))
MOE_CONFIG: dict[str, Any] = json.loads((_EXAMPLE / "moe" / "config.json").read_text(encoding="utf-8"))


# vLLM's PrefixCacheStats fields, summed over a workload from the stats the scheduler makes.
PREFIX_CACHE_FIELDS = ("requests", "queries", "hits", "preempted_requests", "preempted_queries", "preempted_hits")


def write_model_dir(path: Path, config: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Building vLLM's objects as its CPU-only tests do.

BLOCK_SIZE = 16


def _init_hashing():
    from vllm.utils.hashing import sha256
    from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash

    init_none_hash(sha256)
    return get_request_block_hasher(BLOCK_SIZE, sha256)


def make_request(request_id: str, prompt: list[int], max_tokens: int, block_hasher: Any) -> Any:
    from vllm.sampling_params import SamplingParams
    from vllm.v1.request import Request

    return Request(
        request_id=request_id,
        prompt_token_ids=prompt,
        sampling_params=SamplingParams(max_tokens=max_tokens, ignore_eos=True),
        pooling_params=None,
        block_hasher=block_hasher,
    )


def make_kv_cache_config(num_blocks: int) -> Any:
    import torch
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec

    return KVCacheConfig(
        num_blocks=num_blocks,
        kv_cache_tensors=[],
        kv_cache_groups=[
            KVCacheGroupSpec(
                ["layer"], FullAttentionSpec(block_size=BLOCK_SIZE, num_kv_heads=1, head_size=1, dtype=torch.float32)
            )
        ],
    )


def make_scheduler(
    model_dir: Path, num_blocks: int, max_num_seqs: int, max_num_batched_tokens: int, max_model_len: int
) -> Any:
    from vllm.config import CacheConfig, KVEventsConfig, ModelConfig, SchedulerConfig, VllmConfig
    from vllm.v1.core.sched.scheduler import Scheduler
    from vllm.v1.core.single_type_kv_cache_manager import register_all_kvcache_specs
    from vllm.v1.structured_output import StructuredOutputManager

    model_config = ModelConfig(
        model=str(model_dir), skip_tokenizer_init=True, dtype="float32", seed=0, max_model_len=max_model_len
    )
    scheduler_config = SchedulerConfig(
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        max_model_len=max_model_len,
        is_encoder_decoder=False,
        enable_chunked_prefill=True,
        async_scheduling=False,
        watermark=0.0,
    )
    cache_config = CacheConfig(block_size=BLOCK_SIZE, enable_prefix_caching=True, cache_dtype="auto")
    vllm_config = VllmConfig(
        scheduler_config=scheduler_config,
        model_config=model_config,
        cache_config=cache_config,
        # KV events are vLLM's own account of prefix-cache evictions (BlockRemoved).
        kv_events_config=KVEventsConfig(enable_kv_cache_events=True, publisher="null"),
    )
    cache_config.num_gpu_blocks = num_blocks
    register_all_kvcache_specs(vllm_config)
    return Scheduler(
        vllm_config=vllm_config,
        kv_cache_config=make_kv_cache_config(num_blocks),
        block_size=BLOCK_SIZE,
        log_stats=True,
        structured_output_manager=StructuredOutputManager(vllm_config),
    )


class EventCounter:
    """vLLM's KV cache events, counted by kind."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, events: list[Any]) -> None:
        for event in events:
            name = type(event).__name__
            # One BlockRemoved per removed hash; a full-attention block has exactly one.
            n = len(getattr(event, "block_hashes", None) or [None]) if name in ("BlockRemoved", "BlockStored") else 1
            self.counts[name] = self.counts.get(name, 0) + n


def _capture_published_events(scheduler: Any, counter: EventCounter) -> None:
    """The scheduler publishes its KV events through a publisher; ours counts them."""
    from vllm.distributed.kv_events import NullEventPublisher

    class CountingPublisher(NullEventPublisher):
        def publish(self, events: Any) -> None:
            counter.add(list(events.events))

    scheduler.kv_event_publisher = CountingPublisher()


def _prompt(i: int, prefixes: list[list[int]]) -> list[int]:
    suffix_len = 5 + (i * 7) % 37
    return prefixes[i % len(prefixes)] + [(i * 31 + k * 17) % 500 + 3 for k in range(suffix_len)]


def _sampled_token(request: Any) -> int:
    return (len(request.output_token_ids) * 13 + int(request.request_id.split("-")[1]) * 7) % 500 + 3


# --------------------------------------------------------------------------------------------
# Workloads.


def scheduler_workload(workdir: Path) -> dict[str, Any]:
    """Scheduler + KVCacheManager + BlockPool, as EngineCore drives them: schedule(), a fake
    ModelRunnerOutput, update_from_output(). Few KV blocks for the load, so running requests are
    preempted; prompts share prefixes, so finished requests leave cached blocks that later
    allocations evict. Also an abort and a reset_prefix_cache(reset_running_requests=True),
    which preempts outside schedule()."""
    from vllm.v1.core.sched.output import SchedulerOutput
    from vllm.v1.outputs import ModelRunnerOutput
    from vllm.v1.request import RequestStatus
    from vllm.v1.utils import compute_iteration_details

    model_dir = write_model_dir(workdir / "model", DENSE_CONFIG)
    scheduler = make_scheduler(model_dir, num_blocks=31, max_num_seqs=6, max_num_batched_tokens=96, max_model_len=512)
    events = EventCounter()
    _capture_published_events(scheduler, events)
    hasher = _init_hashing()
    pool = scheduler.kv_cache_manager.block_pool

    prefixes = [[(p * 101 + k * 3) % 500 + 3 for k in range(2 * BLOCK_SIZE)] for p in range(3)]
    num_requests = 40
    requests = {}
    for i in range(num_requests):
        request = make_request(f"req-{i}", _prompt(i, prefixes), max_tokens=20 + (i * 11) % 61, block_hasher=hasher)
        requests[request.request_id] = request
    arrivals: dict[int, list[str]] = {}  # step -> requests added before it: 4 every 3 steps
    for i in range(num_requests):
        arrivals.setdefault(1 + (i // 4) * 3, []).append(f"req-{i}")

    steps: list[dict[str, Any]] = []
    outside_preemptions: list[dict[str, Any]] = []
    aborted: list[str] = []
    prefix_cache = dict.fromkeys(PREFIX_CACHE_FIELDS, 0)
    step = 0
    while step < 2000:
        step += 1
        for request_id in arrivals.get(step, []):
            scheduler.add_request(requests[request_id])
        if step == 30 and scheduler.running:  # an abort frees a running request's blocks
            aborted.append(scheduler.running[0].request_id)
            scheduler.finish_requests(aborted[-1:], RequestStatus.FINISHED_ABORTED)
        if step == 45:  # preempts every running request, outside schedule()
            running = [r.request_id for r in scheduler.running]
            before = {rid: requests[rid].num_computed_tokens for rid in running}
            assert scheduler.reset_prefix_cache(reset_running_requests=True)
            outside_preemptions.append({"before_step": step, "requests": running, "computed_tokens": before})
        if not scheduler.has_requests() and step > max(arrivals) + 1:
            break

        computed_before = {rid: r.num_computed_tokens for rid, r in requests.items()}
        output: SchedulerOutput = scheduler.schedule()
        # Read right after schedule(), where the hooks sample: vLLM's own numbers.
        request_counts = list(scheduler.get_request_counts())  # (running, waiting)
        usage = pool.get_usage()
        free = pool.get_num_free_blocks()
        details = compute_iteration_details(output)
        preempted = sorted(output.preempted_req_ids or ())

        sampled = []
        for request_id in output.num_scheduled_tokens:
            request = scheduler.requests[request_id]
            done = request.num_computed_tokens >= request.num_tokens
            sampled.append([_sampled_token(request)] if done else [])
        ids = list(output.num_scheduled_tokens)
        runner_output = ModelRunnerOutput(
            req_ids=ids, req_id_to_index={r: k for k, r in enumerate(ids)}, sampled_token_ids=sampled
        )
        engine_outputs = scheduler.update_from_output(output, runner_output)
        finished = sorted(
            o.request_id for eco in engine_outputs.values() for o in eco.outputs if o.finish_reason is not None
        )
        for eco in engine_outputs.values():  # update_from_output made vLLM's SchedulerStats
            stats = eco.scheduler_stats
            if stats is not None and stats.prefix_cache_stats is not None:
                for key in prefix_cache:
                    prefix_cache[key] += getattr(stats.prefix_cache_stats, key)

        steps.append(
            {
                "step": step,
                "scheduled": dict(output.num_scheduled_tokens),
                "total_num_scheduled_tokens": output.total_num_scheduled_tokens,
                "new_reqs": [r.req_id for r in output.scheduled_new_reqs],
                "new_block_ids": {r.req_id: [list(g) for g in r.block_ids] for r in output.scheduled_new_reqs},
                "cached_reqs": list(output.scheduled_cached_reqs.req_ids),
                "resumed_reqs": sorted(output.scheduled_cached_reqs.resumed_req_ids),
                "cached_new_block_ids": [
                    None if b is None else [list(g) for g in b] for b in output.scheduled_cached_reqs.new_block_ids
                ],
                "context_reqs": details.num_ctx_requests,
                "context_tokens": details.num_ctx_tokens,
                "generation_reqs": details.num_generation_requests,
                "generation_tokens": details.num_generation_tokens,
                "preempted": preempted,
                "preempted_computed_tokens": {rid: computed_before[rid] for rid in preempted},
                "finished": finished,
                "usage": usage,
                "free_blocks": free,
                "request_counts": request_counts,
            }
        )

    return {
        "workload": "scheduler",
        "limits": {
            "max_num_seqs": scheduler.scheduler_config.max_num_seqs,
            "max_num_running_reqs": scheduler.max_num_running_reqs,
            "max_num_scheduled_tokens": scheduler.max_num_scheduled_tokens,
            "max_num_batched_tokens": scheduler.scheduler_config.max_num_batched_tokens,
            "num_gpu_blocks": pool.num_gpu_blocks,
        },
        "steps": steps,
        "outside_preemptions": outside_preemptions,
        "aborted": aborted,
        "requests": {
            rid: {
                "num_preemptions": r.num_preemptions,
                "status": str(r.status),
                "output_token_ids": list(r.output_token_ids),
            }
            for rid, r in requests.items()
        },
        "kv_events": events.counts,
        "prefix_cache": prefix_cache,
    }


def kv_cache_manager_workload(workdir: Path) -> dict[str, Any]:
    """KVCacheManager alone, made as test_prefix_caching.py's make_kv_cache_manager does: prefix
    lookups, allocations (some refused for lack of blocks), growth, frees, with shared prefixes."""
    from vllm.v1.core.kv_cache_manager import KVCacheManager

    hasher = _init_hashing()
    manager = KVCacheManager(
        make_kv_cache_config(16),
        max_model_len=1024,
        scheduler_block_size=BLOCK_SIZE,
        hash_block_size=BLOCK_SIZE,
        enable_caching=True,
        log_stats=True,
        enable_kv_cache_events=True,
    )
    pool = manager.block_pool
    events = EventCounter()
    prefixes = [[(p * 37 + k) % 500 + 3 for k in range(3 * BLOCK_SIZE)] for p in range(4)]
    live: list[Any] = []
    ops: list[dict[str, Any]] = []
    calls = {"get_computed_blocks": 0, "allocate_slots": 0, "allocate_slots_refused": 0, "free": 0}
    for i in range(120):
        request = make_request(f"req-{i}", _prompt(i, prefixes), max_tokens=64, block_hasher=hasher)
        blocks, num_hits, _ = manager.get_computed_blocks(request)
        manager.record_prefix_cache_stats(request, num_hits)
        new = manager.allocate_slots(
            request, request.num_tokens - num_hits, num_new_computed_tokens=num_hits, new_computed_blocks=blocks
        )
        calls["get_computed_blocks"] += 1
        calls["allocate_slots"] += 1
        calls["allocate_slots_refused"] += new is None
        op: dict[str, Any] = {"request": request.request_id, "hits": num_hits, "allocated": new is not None}
        if new is not None:
            request.num_computed_tokens = request.num_tokens
            live.append(request)
            op["block_ids"] = [list(g) for g in manager.get_block_ids(request.request_id)]
            # Decode a few tokens in place: growth by one block now and then.
            for k in range(1 + i % 20):
                request.append_output_token_ids((i + k) % 500 + 3)
                grown = manager.allocate_slots(request, 1)
                calls["allocate_slots"] += 1
                calls["allocate_slots_refused"] += grown is None
                if grown is None:
                    op["grow_refused_at"] = k
                    break
                request.num_computed_tokens += 1
        # Free the oldest requests, keeping 2-4 alive: their cached blocks stay evictable.
        while len(live) > 2 + i % 3:
            manager.free(live.pop(0))
            calls["free"] += 1
        op["usage"] = manager.usage
        op["free_blocks"] = pool.get_num_free_blocks()
        events.add(manager.take_events())
        ops.append(op)
    stats = manager.make_prefix_cache_stats()
    return {
        "workload": "kv_cache_manager",
        "ops": ops,
        "kv_events": events.counts,
        "prefix_cache": {
            key: getattr(stats, key)
            for key in ("requests", "queries", "hits", "preempted_requests", "preempted_queries", "preempted_hits")
        },
        "calls": calls,
    }


def block_pool_workload(workdir: Path) -> dict[str, Any]:
    """BlockPool alone, as test_prefix_caching.py builds it: allocate, cache full blocks, hit them
    (touch), free in eviction order, and allocate again over cached blocks (evictions). The
    transcript names each evicted block, read from vLLM's free queue before the allocation."""
    from vllm.v1.core.block_pool import BlockPool

    hasher = _init_hashing()
    pool = BlockPool(num_gpu_blocks=24, enable_caching=True, hash_block_size=BLOCK_SIZE, enable_kv_cache_events=True)
    events = EventCounter()
    evicted: list[int] = []
    rounds: list[dict[str, Any]] = []
    held: list[tuple[Any, list[Any]]] = []
    prefixes = [[(p * 59 + k) % 500 + 3 for k in range(2 * BLOCK_SIZE)] for p in range(3)]
    for i in range(80):
        request = make_request(f"req-{i}", _prompt(i, prefixes), max_tokens=1, block_hasher=hasher)
        num_full = request.num_tokens // BLOCK_SIZE
        # Prefix hits: the cached blocks for this request's leading full blocks.
        hits = []
        for block_hash in request.block_hashes[:num_full]:
            cached = pool.get_cached_block(block_hash, [0])
            if cached is None:
                break
            hits.append(cached[0])
        pool.touch(hits)
        need = -(-request.num_tokens // BLOCK_SIZE) - len(hits)
        while need > pool.get_num_free_blocks() and held:
            _, blocks = held.pop(0)
            pool.free_blocks(reversed(blocks))  # tail first: evicted first, as vLLM frees
        # vLLM's own view of what this allocation will evict: the blocks at the head of the free
        # queue that still carry a prefix-cache hash.
        head = pool.free_block_queue.get_all_free_blocks()[:need]
        will_evict = [b.block_id for b in head if b.block_hash is not None]
        fresh = pool.get_new_blocks(need)
        evicted.extend(will_evict)
        blocks = hits + fresh
        pool.cache_full_blocks(
            request,
            blocks,
            num_cached_blocks=len(hits),
            num_full_blocks=num_full,
            block_size=BLOCK_SIZE,
            kv_cache_group_id=0,
        )
        held.append((request, blocks))
        if i % 4 == 3:
            _, old = held.pop(0)
            pool.free_blocks(reversed(old))
        events.add(pool.take_events())
        rounds.append(
            {
                "request": request.request_id,
                "hits": [b.block_id for b in hits],
                "fresh": [b.block_id for b in fresh],
                "evicts": will_evict,
                "usage": pool.get_usage(),
            }
        )
    return {"workload": "block_pool", "rounds": rounds, "evicted_block_ids": evicted, "kv_events": events.counts}


def generate_workload(workdir: Path, moe: bool) -> dict[str, Any]:
    """A short offline generation with a tiny random-weight model on vLLM's CPU backend, with few
    KV blocks (a preemption, prefix-cache evictions). The engine's scheduler is observed through
    instance attributes (the test's own, present in both runs): each step's SchedulerOutput with
    get_usage() right after schedule(), the SchedulerStats it makes, the KV events it publishes."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine core in this process
    from vllm import LLM, SamplingParams

    model_dir = write_model_dir(workdir / ("moe" if moe else "dense"), MOE_CONFIG if moe else DENSE_CONFIG)
    # CPU attention wants blocks of a multiple of 32 tokens; 11 usable blocks hold 352 tokens.
    llm = LLM(
        model=str(model_dir),
        load_format="dummy",
        skip_tokenizer_init=True,
        enforce_eager=True,
        dtype="float32",
        max_model_len=256,
        max_num_seqs=4,
        max_num_batched_tokens=128,
        block_size=32,
        num_gpu_blocks_override=12,
        enable_prefix_caching=True,
        disable_log_stats=False,
        seed=0,
        kv_events_config={"enable_kv_cache_events": True, "publisher": "null"},
    )
    scheduler = llm.llm_engine.engine_core.engine_core.scheduler
    pool = scheduler.kv_cache_manager.block_pool
    events = EventCounter()
    _capture_published_events(scheduler, events)
    steps: list[dict[str, Any]] = []
    prefix_cache = dict.fromkeys(PREFIX_CACHE_FIELDS, 0)
    schedule, make_stats = type(scheduler).schedule, type(scheduler).make_stats

    def short(request_id: str) -> str:
        return request_id.split("-", 1)[0]  # LLM adds a random suffix to its request ids

    def observed_schedule(*args: Any, **kwargs: Any) -> Any:
        output = schedule(scheduler, *args, **kwargs)
        steps.append(
            {
                "scheduled": {short(r): n for r, n in output.num_scheduled_tokens.items()},
                "total_num_scheduled_tokens": output.total_num_scheduled_tokens,
                "new_reqs": [short(r.req_id) for r in output.scheduled_new_reqs],
                "preempted": sorted(short(r) for r in output.preempted_req_ids or ()),
                "usage": pool.get_usage(),
                "free_blocks": pool.get_num_free_blocks(),
                "request_counts": list(scheduler.get_request_counts()),
            }
        )
        return output

    def observed_make_stats(*args: Any, **kwargs: Any) -> Any:
        stats = make_stats(scheduler, *args, **kwargs)
        if stats is not None and stats.prefix_cache_stats is not None:
            for key in prefix_cache:
                prefix_cache[key] += getattr(stats.prefix_cache_stats, key)
        return stats

    scheduler.schedule = observed_schedule
    scheduler.make_stats = observed_make_stats
    shared = [(k * 11) % 500 + 3 for k in range(64)]
    prompts = [{"prompt_token_ids": shared + [(i * 13 + k) % 500 + 3 for k in range(4 + 9 * i)]} for i in range(8)]
    outputs = llm.generate(prompts, SamplingParams(max_tokens=24, ignore_eos=True, temperature=0.0), use_tqdm=False)
    metrics = {}
    for metric in llm.get_metrics():  # vLLM's Prometheus metrics, offline
        value = getattr(metric, "value", None)
        if isinstance(value, (int, float)) and not metric.name.endswith("_info"):
            metrics[metric.name] = value
    return {
        "workload": "generate_moe" if moe else "generate_dense",
        "limits": {
            "max_num_running_reqs": scheduler.max_num_running_reqs,
            "max_num_scheduled_tokens": scheduler.max_num_scheduled_tokens,
            "num_gpu_blocks": pool.num_gpu_blocks,
        },
        "outputs": [list(o.outputs[0].token_ids) for o in outputs],
        "steps": steps,
        "kv_events": events.counts,
        "prefix_cache": prefix_cache,
        "num_preemptions": metrics.get("vllm:num_preemptions"),
        "prometheus_prefix_cache": {
            "queries": metrics.get("vllm:prefix_cache_queries"),
            "hits": metrics.get("vllm:prefix_cache_hits"),
        },
    }


WORKLOADS = {
    "scheduler": scheduler_workload,
    "kv_cache_manager": kv_cache_manager_workload,
    "block_pool": block_pool_workload,
    "generate_dense": lambda workdir: generate_workload(workdir, moe=False),
    "generate_moe": lambda workdir: generate_workload(workdir, moe=True),
}


def main() -> None:
    name, transcript, workdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    result = WORKLOADS[name](workdir)
    import vllm

    result["vllm_version"] = vllm.__version__
    transcript.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
