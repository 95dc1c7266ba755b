"""Scheduler.schedule, patched at import or retroactively, against stand-ins of two vLLM eras."""

from __future__ import annotations

STEPS = 12

SCHEDULE_LOOP = f"""
from vllm.v1.core.sched.scheduler import Scheduler
scheduler = Scheduler()
for _ in range({STEPS}):
    scheduler.schedule()
"""


def expected_step(n: int, max_seqs: int, max_tokens: int) -> dict[str, str]:
    """Step n of the stand-in: request n arrives with 100 + n prompt tokens, n - 1 requests decode."""
    tokens = 2 * n + 99
    return {
        "step": str(n),
        "num_seqs": str(n),
        "max_num_seqs": str(max_seqs),
        "seq_utilization_pct": f"{100 * n / max_seqs:.2f}",
        "num_tokens": str(tokens),
        "max_tokens": str(max_tokens),
        "token_utilization_pct": f"{100 * tokens / max_tokens:.2f}",
        "phase": "prefill" if n == 1 else "mixed",
        "running_queue_len": str(n),
        "waiting_queue_len": str(5 - n % 5),
        "num_prefill_seqs": "1",
        "num_decode_seqs": str(n - 1),
        "num_prefill_tokens": str(100 + n),
        "num_decode_tokens": str(n - 1),
        "kv_usage_pct": f"{0.7 * n:.2f}",
    }


def check_steps(rows: list[dict[str, str]], max_seqs: int, max_tokens: int) -> None:
    assert len(rows) == STEPS
    for n, row in enumerate(rows, start=1):
        want = expected_step(n, max_seqs, max_tokens)
        assert {key: row[key] for key in want} == want, f"step {n}"
        assert float(row["schedule_time_ms"]) >= 0


def test_steps_are_recorded_against_the_live_limits_when_patched_at_import(run_workload) -> None:
    run = run_workload(SCHEDULE_LOOP)
    check_steps(run.csv("batch_utilization.csv"), max_seqs=64, max_tokens=2048)
    usage = run.csv("kv_cache_usage.csv")
    assert [(row["num_blocks"], row["total_blocks"]) for row in usage] == [
        (str(7 * n), "1000") for n in range(1, STEPS + 1)
    ]
    assert "[sitecustomize] vLLM Comprehensive Instrumentation Loaded" in run.stderr
    assert "[Instrumentation] ✅ Successfully patched Scheduler" in run.stderr
    # The scheduler module imports the KV cache manager before it defines Scheduler: while it is
    # still executing, its targets are neither applied nor reported missing.
    assert "Skipped" not in run.stderr, run.stderr
    assert all(p["applied"] for p in run.metadata()["patches"]), run.metadata()["patches"]
    applied = {(p["component"], p["target"]) for p in run.metadata()["patches"] if p["applied"]}
    assert applied == {
        ("Scheduler", "vllm.v1.core.sched.scheduler:Scheduler.schedule"),
        ("Preemption", "vllm.v1.core.sched.scheduler:Scheduler._preempt_request"),
        ("KVCacheManager", "vllm.v1.core.kv_cache_manager:KVCacheManager.allocate_slots"),
        ("KVCacheManager", "vllm.v1.core.kv_cache_manager:KVCacheManager.get_computed_blocks"),
        ("KVCacheManager", "vllm.v1.core.kv_cache_manager:KVCacheManager.free"),
        ("KVCacheManager", "vllm.v1.core.kv_cache_manager:KVCacheManager.record_prefix_cache_stats"),
        ("BlockPool", "vllm.v1.core.block_pool:BlockPool.get_new_blocks"),
        ("BlockPool", "vllm.v1.core.block_pool:BlockPool.touch"),
        ("BlockPool", "vllm.v1.core.block_pool:BlockPool.free_blocks"),
        ("BlockPool", "vllm.v1.core.block_pool:BlockPool._maybe_evict_cached_block"),
    }


def test_modules_imported_before_the_hooks_are_patched_retroactively(run_workload) -> None:
    script = """
import os
from vllm.v1.core.sched.scheduler import Scheduler   # imported first, as vLLM's engine core does
import profilemate
os.environ["VLLM_ENABLE_PROFILING"] = "1"
assert profilemate.install()
assert profilemate.install(), "idempotent"
scheduler = Scheduler()
""" + SCHEDULE_LOOP.split("scheduler = Scheduler()", 1)[1]
    run = run_workload(script, env={"VLLM_ENABLE_PROFILING": "0"})
    check_steps(run.csv("batch_utilization.csv"), max_seqs=64, max_tokens=2048)
    assert run.stderr.count("Successfully patched Scheduler") == 1


def test_an_older_vllm_without_max_num_scheduled_tokens_uses_its_token_budget(run_workload) -> None:
    run = run_workload(SCHEDULE_LOOP, era="vllm_2025")
    check_steps(run.csv("batch_utilization.csv"), max_seqs=64, max_tokens=4096)


def test_a_target_that_moved_is_skipped_with_its_reason_and_nothing_breaks(run_workload) -> None:
    run = run_workload(
        "from vllm.v1.core.sched.scheduler import Scheduler\nassert Scheduler().plan() is None\n", era="vllm_moved"
    )
    assert "Skipped Scheduler (Scheduler.schedule)" in run.stderr
    patch = next(p for p in run.metadata()["patches"] if p["component"] == "Scheduler")
    assert patch["applied"] is False
    assert "has no Scheduler.schedule" in patch["reason"]
    assert run.csv("batch_utilization.csv") == []


def test_nothing_is_recorded_or_patched_when_activation_is_off(run_workload, tmp_path) -> None:
    script = """
import sys
from vllm.v1.core.sched.scheduler import Scheduler
assert not hasattr(Scheduler.schedule, "__profilemate_original__")
assert "profilemate._native" not in sys.modules
"""
    session = tmp_path / "session"
    import os
    import subprocess
    import sys

    from conftest import BUILD, STANDINS

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(
                str(p) for p in (BUILD / "pyhooks", STANDINS / "vllm_2026", STANDINS / "common")
            ),
            "VLLM_ENABLE_PROFILING": "0",
            "VLLM_PROFILING_DIR": str(session),
        }
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not session.exists()
    assert done.stderr == ""


def test_spawned_children_are_patched_through_pythonpath(run_workload) -> None:
    """vLLM starts its engine core and workers with spawn: fresh interpreters that inherit only the
    environment. Each must be patched from start-up and write its own log in the same session."""
    run = run_workload("""
import multiprocessing as mp

def worker():
    from vllm.v1.core.sched.scheduler import Scheduler
    scheduler = Scheduler()
    for _ in range(3):
        scheduler.schedule()

if __name__ == "__main__":
    mp.set_start_method("spawn")
    child = mp.Process(target=worker)
    child.start()
    child.join()
    assert child.exitcode == 0
    worker()
""")
    pids = {row["pid"] for row in run.csv("batch_utilization.csv")}
    assert len(pids) == 2, "the parent and the spawned child"
    assert len(run.metadata()["processes"]) == 2
    assert len(run.csv("batch_utilization.csv")) == 6


def test_a_sitecustomize_that_ours_shadows_still_runs(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from conftest import BUILD

    other = tmp_path / "site"
    other.mkdir()
    (other / "sitecustomize.py").write_text('import os\nos.environ["OTHER_SITECUSTOMIZE"] = "ran"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROFILEMATE_", "VLLM_"))}
    env.update({"PYTHONPATH": os.pathsep.join([str(BUILD / "pyhooks"), str(other)]), "VLLM_ENABLE_PROFILING": "0"})
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('OTHER_SITECUSTOMIZE'))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "ran", done.stderr


def test_a_chunked_prefill_that_continues_counts_as_prefill_as_vllm_counts_it(run_workload) -> None:
    run = run_workload("""
from standin_parts import CachedRequestData, NewRequestData, SchedulerOutput
from vllm.v1.core.sched.scheduler import Scheduler

class ChunkedScheduler(Scheduler):
    def _form_batch(self):   # what the (patched) schedule() returns
        return SchedulerOutput([NewRequestData("new")], {"new": 512, "chunked": 512, "d1": 1, "d2": 1}, 1026,
                               CachedRequestData(["chunked", "d1", "d2"], [0, 7, 3]))

ChunkedScheduler().schedule()
""")
    (row,) = run.csv("batch_utilization.csv")
    assert (row["num_prefill_seqs"], row["num_prefill_tokens"], row["num_decode_seqs"], row["num_decode_tokens"]) == (
        "2",
        "1024",
        "2",
        "2",
    ), row
    assert row["phase"] == "mixed"
    (process,) = run.metadata()["processes"]
    assert process["versions"]["vllm"] == "0.99.0+standin-2026", process["versions"]
