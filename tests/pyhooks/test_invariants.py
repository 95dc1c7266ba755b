"""What a patch must never change: return values, exceptions, signatures; and never twice."""

from __future__ import annotations

import inspect
import os
import sys

import pytest
from conftest import BUILD, STANDINS


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    os.environ["PROFILEMATE_SESSION_DIR"] = str(tmp_path_factory.mktemp("session"))
    os.environ["VLLM_ENABLE_PROFILING"] = "1"
    sys.path[:0] = [str(BUILD / "pyhooks"), str(STANDINS / "vllm_2026"), str(STANDINS / "common")]
    from vllm.v1.core.sched import scheduler as module

    import profilemate

    original = module.Scheduler.schedule
    assert profilemate.install()
    yield profilemate, module, original
    profilemate.unpatch()


def test_the_signature_is_unchanged(hooks) -> None:
    _, module, original = hooks
    assert module.Scheduler.schedule is not original
    assert inspect.signature(module.Scheduler.schedule) == inspect.signature(original)
    assert module.Scheduler.schedule.__name__ == "schedule"
    assert module.Scheduler.schedule.__doc__ == original.__doc__


def test_the_return_value_passes_through_unchanged(hooks) -> None:
    _, module, original = hooks
    patched, plain = module.Scheduler(), module.Scheduler()
    for _ in range(3):
        assert patched.schedule() == original(plain)


def test_exceptions_pass_through_unchanged(hooks) -> None:
    _, module, _ = hooks
    with pytest.raises(RuntimeError, match="scheduler failure"):
        module.Scheduler().schedule(throttle_prefills="boom")


def test_a_recording_failure_never_reaches_vllm(hooks, monkeypatch) -> None:
    from profilemate.patches import recording, scheduler

    def broken(*args: object) -> None:
        raise ValueError("recording bug")

    monkeypatch.setattr(scheduler, "record_step", broken)
    _, module, _ = hooks
    before = recording.failures
    assert module.Scheduler().schedule().total_num_scheduled_tokens == 101
    assert recording.failures == before + 1


def test_recording_failures_reach_the_log_with_the_first_cause(run_workload) -> None:
    run = run_workload("""
from profilemate.patches import scheduler
from vllm.v1.core.sched.scheduler import Scheduler

def broken(*args):
    raise ValueError("recording bug")

scheduler.record_step = broken
for _ in range(3):
    Scheduler().schedule()
""")
    metadata = run.metadata()
    dropped = {k: v for p in metadata["processes"] for k, v in p["dropped_records"].items()}
    assert dropped == {"hook_failure": 3}, dropped
    notices = [n for n in metadata["notices"] if n["source"] == "pyhooks"]
    assert len(notices) == 1, notices  # the first failure of the hook, not every one
    assert "schedule" in notices[0]["message"] and "ValueError: recording bug" in notices[0]["message"], notices


def test_installing_twice_wraps_once_and_unpatch_restores(hooks) -> None:
    profilemate, module, original = hooks
    wrapped = module.Scheduler.schedule
    assert profilemate.install()
    assert module.Scheduler.schedule is wrapped
    profilemate.unpatch()
    assert module.Scheduler.schedule is original
    assert profilemate.install()  # back for the other tests
    assert module.Scheduler.schedule.__profilemate_original__ is original


def test_activation_rules_match_the_injection_library() -> None:
    sys.path.insert(0, str(BUILD / "pyhooks"))
    from profilemate import activation

    serve = ["/usr/bin/python3", "/usr/local/bin/vllm", "serve", "m"]
    assert activation.decide({}, serve)[0]
    assert not activation.decide({"VLLM_ENABLE_PROFILING": "0"}, serve)[0]
    assert activation.decide({"PROFILEMATE_ENABLE": "1", "VLLM_ENABLE_PROFILING": "0"}, ["x"])[0]
    assert activation.decide({"PROFILEMATE_SESSION_DIR": "/s"}, ["python", "-c", "spawn_main()"])[0]
    assert activation.decide({"VLLM_PROFILING_SESSION_ID": "run1"}, ["python", "-c", "spawn_main()"])[0]
    assert not activation.decide({"VLLM_PROFILING_SESSION_ID": ""}, ["python", "-c", "spawn_main()"])[0]
    assert not activation.decide({}, ["python", "train.py", "--model", "resnet"])[0]
    assert activation.looks_like_vllm(["python", "-m", "vllm.entrypoints.openai.api_server"])


class VllmError(Exception):
    pass


def test_every_wrapper_passes_results_and_exceptions_through_whatever_it_is_given(hooks) -> None:
    """Each wrapper of the registry, around a method that returns a sentinel or raises, called
    with arguments it cannot make sense of (self and two more): vLLM's result or exception comes back
    unchanged."""
    from profilemate.patches import all_targets, recording

    sentinel = object()
    error = VllmError("vLLM's own")

    def returns(*args: object, **kwargs: object) -> object:
        return sentinel

    def raises(*args: object, **kwargs: object) -> object:
        raise error

    for target in all_targets():
        assert target.wrap(returns)(object(), object(), object()) is sentinel, f"{target.qualname} changed the result"
        with pytest.raises(VllmError) as raised:
            target.wrap(raises)(object(), object(), object())
        assert raised.value is error, f"{target.qualname} changed the exception"
    assert recording.failures > 0  # the wrappers did fail to record, and said nothing to vLLM


def test_no_patched_method_changes_its_signature(hooks) -> None:
    import importlib

    from profilemate.patches import all_targets

    checked = 0
    for target in all_targets():
        module = importlib.import_module(target.module)
        owner_path, _, name = target.qualname.rpartition(".")
        owner = module
        for part in filter(None, owner_path.split(".")):  # a class, or the module for a function
            owner = getattr(owner, part)
        patched = getattr(owner, name)
        original = getattr(patched, "__profilemate_original__", None)
        assert original is not None, f"{target.module}:{target.qualname} is not patched in the 2026 stand-in"
        assert inspect.signature(patched) == inspect.signature(original), target.qualname
        checked += 1
    assert checked == len(all_targets())


def test_no_hook_calls_a_vllm_getter_that_drains_state(run_workload) -> None:
    run = run_workload("""
import standin_parts
from standin_parts import NewRequestData, Request, SchedulerOutput
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.worker.gpu_model_runner import GPUModelRunner
from vllm.v1.worker.gpu.mm.encoder_runner import EncoderRunner
scheduler, runner = Scheduler(num_gpu_blocks=201), GPUModelRunner()
manager = scheduler.kv_cache_manager
for step in range(20):                                  # every hook of the 2026 stand-in fires
    request = Request(f"r{step}", 0, 0.0, num_tokens=48, cached_tokens=16)
    manager.record_prefix_cache_stats(request, manager.get_computed_blocks(request)[1])
    manager.allocate_slots(request, 48)
    if step == 10:
        scheduler.preempt_in_next_step = request
    output = scheduler.schedule()
    output.scheduled_encoder_inputs = {"r": [0]}
    runner.execute_model(output)
    runner.sample_tokens(None)
    EncoderRunner().execute_mm_encoder([("image", 1)])
    pool = manager.block_pool
    pool.cache_full_blocks(request.blocks)
    manager.free(request)
assert standin_parts.DRAINED == [], standin_parts.DRAINED
""")
    assert run.csv("preemption_events.csv") and run.csv("forward_pass_timing.csv"), "the hooks did not fire"
