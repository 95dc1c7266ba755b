"""The hooks' bridge to the recorder (pyhooks/native/profilemate_native.c) takes records by name:
each function's keyword arguments are its proto message's field names, and bad input is refused
with an error naming the function and the field."""

from __future__ import annotations

import ast
import ctypes
import importlib
import re
import sys
from pathlib import Path

import pytest
from conftest import BUILD

PROTO = Path(__file__).resolve().parents[2] / "proto" / "profilemate.proto"

# The message each function records.
MESSAGES = {
    "scheduler_step": ("SchedulerStep",),
    "kv_eviction": ("KvEviction",),
    "preemption": ("Preemption",),
    "kv_usage": ("KvUsage",),
    "cpu_operation": ("CpuOperation",),
    "forward_pass": ("ForwardPass",),
    "encoder_timing": ("EncoderTiming",),
    "moe_expert_counts": ("MoeExpertCounts",),
    "moe_timing": ("MoeLayerTiming",),
    "patch_status": ("PatchStatus",),
    "process_info": ("ProcessInfo",),
}


@pytest.fixture(scope="module")
def native():
    sys.path.insert(0, str(BUILD / "pyhooks"))
    try:
        yield importlib.import_module("profilemate._native")
    finally:
        sys.path.remove(str(BUILD / "pyhooks"))


def proto_fields() -> dict[str, set[str]]:
    """Field names of each top-level message of the schema."""
    fields: dict[str, set[str]] = {}
    for message, body in re.findall(r"^message (\w+) \{(.*?)^\}", PROTO.read_text(encoding="utf-8"), re.M | re.S):
        fields[message] = set(re.findall(r"^\s+(?:optional |repeated )?[\w.]+ (\w+) = \d+;", body, re.M))
    return fields


def test_every_field_a_record_function_takes_is_a_field_of_its_message(native) -> None:
    schema = proto_fields()
    taken = native.fields()
    assert set(taken) == set(MESSAGES), f"functions without a message here, or gone: {set(taken) ^ set(MESSAGES)}"
    for function, names in taken.items():
        known = set().union(*(schema[message] for message in MESSAGES[function]))
        assert set(names) <= known, f"{function}() takes fields its messages lack: {set(names) - known}"


def test_bad_input_is_refused_naming_the_function_and_the_field(native) -> None:
    fields = {"t_ns": 1, "step": 2, "phase": 2, "batch_size": 4, "num_tokens": 5, "duration_ns": 6}
    # Accepted: True or False, whether or not a recorder runs in this process.
    assert native.forward_pass(**fields) in (True, False)
    assert native.forward_pass(**fields, gpu_duration_ns=None) in (True, False)  # None: an optional field absent
    cases = [
        ((), {**fields, "bogus": 1}, r"forward_pass\(\) has no field 'bogus'"),
        ((), {k: v for k, v in fields.items() if k != "step"}, r"forward_pass\(\) is missing field step"),
        ((), {**fields, "t_ns": -1}, r"forward_pass\(\): field t_ns must be an int >= 0, got -1"),
        ((), {**fields, "num_tokens": 2**32}, r"field num_tokens must be an int in \[0, 2\*\*32\)"),
        ((), {**fields, "step": None}, r"field step must be an int >= 0, got None"),
        ((1, 2), {}, r"forward_pass\(\) takes its fields by name, got 2 positional"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(TypeError, match=message):
            native.forward_pass(*args, **kwargs)
    with pytest.raises(TypeError, match=r"cpu_operation\(\): field operation must be a str, got 3"):
        native.cpu_operation(t_ns=1, step=2, operation=3, duration_ns=4, context="")
    with pytest.raises(TypeError, match=r"moe_expert_counts\(\): field counts must be a list of ints"):
        native.moe_expert_counts(t_ns=1, step=2, layer=0, first_expert=0, counts=(1, 2))


def test_fields_arrive_in_any_order_and_through_a_dict(native) -> None:
    fields = {"duration_ns": 6, "num_tokens": 5, "batch_size": 4, "phase": 2, "step": 2, "t_ns": 1}
    key = "".join(["gpu_", "duration_ns"])  # not interned: compared by value
    assert native.forward_pass(**fields, **{key: 7}) in (True, False)


def test_count_selections_adds_each_id_of_either_width_to_its_counter(native) -> None:
    counts = (ctypes.c_int64 * 4)(0, 5, 0, 0)
    for width, ids in ((4, (ctypes.c_int32 * 6)(1, 3, 1, 0, 2, 3)), (8, (ctypes.c_int64 * 3)(3, 3, 0))):
        native.count_selections(
            counts_address=ctypes.addressof(counts),
            num_experts=4,
            ids_address=ctypes.addressof(ids),
            num_ids=len(ids),
            id_bytes=width,
        )
    assert list(counts) == [2, 7, 1, 4], "ids counted wrongly (int32 then int64 ids)"
    native.count_selections(counts_address=0, num_experts=4, ids_address=0, num_ids=0, id_bytes=4)  # none: fine


def test_count_selections_refuses_an_id_that_is_not_an_expert_and_adds_nothing(native) -> None:
    counts = (ctypes.c_int64 * 3)()
    fields = {"counts_address": ctypes.addressof(counts), "num_experts": 3, "id_bytes": 8}
    for bad in (3, -1):
        ids = (ctypes.c_int64 * 3)(0, bad, 1)
        with pytest.raises(ValueError, match=rf"count_selections\(\): id {bad} \(at 1\) is not one of the 3 experts"):
            native.count_selections(**fields, ids_address=ctypes.addressof(ids), num_ids=3)
    assert list(counts) == [0, 0, 0], "counters moved before a bad id was found"
    ids = (ctypes.c_int64 * 1)(0)
    with pytest.raises(ValueError, match=r"count_selections\(\): field id_bytes must be 4 or 8, got 2"):
        native.count_selections(**{**fields, "id_bytes": 2}, ids_address=ctypes.addressof(ids), num_ids=1)
    with pytest.raises(ValueError, match=r"counts_address and ids_address must not be 0"):
        native.count_selections(**{**fields, "counts_address": 0}, ids_address=ctypes.addressof(ids), num_ids=1)
    with pytest.raises(TypeError, match=r"count_selections\(\) is missing field num_ids"):
        native.count_selections(**fields, ids_address=ctypes.addressof(ids))


# CPython passes up to 15 keyword arguments to a call as they are; with more, it builds a dict for
# every call (a per-step cost the hooks avoid).
MAX_KEYWORDS = 15


def test_no_record_function_takes_more_fields_than_a_call_passes_without_a_dict(native) -> None:
    wide = {function: len(names) for function, names in native.fields().items() if len(names) > MAX_KEYWORDS}
    assert not wide, f"record functions with more than {MAX_KEYWORDS} fields: {wide}"


def test_no_hook_passes_more_keywords_than_a_call_passes_without_a_dict() -> None:
    patches = Path(__file__).resolve().parents[2] / "pyhooks" / "profilemate" / "patches"
    wide = [
        f"{source.name}:{call.lineno}"
        for source in sorted(patches.glob("*.py"))
        for call in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(call, ast.Call) and len(call.keywords) > MAX_KEYWORDS
    ]
    assert not wide, f"calls with more than {MAX_KEYWORDS} keyword arguments: {wide}"
