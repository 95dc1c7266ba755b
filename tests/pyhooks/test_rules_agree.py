"""Rules that the Python hooks and the C++ side both apply, checked against one table of cases
each (tests/support/rules/): the injection library's own checks read the same tables, or the
C++ side is run here through `profilemate export`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import BUILD

RULES = Path(__file__).resolve().parents[1] / "support" / "rules"
sys.path.insert(0, str(BUILD / "pyhooks"))
from profilemate import activation  # noqa: E402 - the package as built (the other tests load it too)


def table(name: str) -> list[list[str]]:
    """The '|'-separated columns of each case line."""
    lines = (RULES / name).read_text(encoding="utf-8").splitlines()
    return [[column.strip() for column in line.split("|")] for line in lines if line.strip() and line[0] != "#"]


def test_the_python_hooks_decide_activation_as_the_shared_cases_say() -> None:
    # tests/injection/activation_test.cpp checks the injection library against the same lines.
    cases = table("activation_cases.txt")
    assert len(cases) > 10, "the table lost its cases"
    for expected, environment, command_line in cases:
        env = dict(setting.partition("=")[::2] for setting in environment.split() if setting != "-")
        on, why = activation.decide(env, command_line.split())
        assert on == (expected == "on"), f"{environment} | {command_line}: {on} ({why}), the table says {expected}"


def test_forward_passes_and_the_reader_give_steps_the_same_phase(run_workload) -> None:
    """Each case as a scheduler step (the reader derives its phase) and as a forward pass whose
    phase the hooks computed: batch_utilization.csv and forward_pass_timing.csv must both say
    what the table says."""
    cases = table("step_phase_cases.txt")
    splits = [[int(n) for n in split.split()] for split, _ in cases]
    run = run_workload(
        f"""
from profilemate.patches import recording, steps
native = recording.native()
assert native.start()
for step, (seqs, prefill, decode) in enumerate({json.dumps(splits)}, start=1):
    native.scheduler_step(step=step, t_ns=step * 1000, schedule_duration_ns=10, num_seqs=seqs, max_num_seqs=64,
                          num_tokens=seqs, max_tokens=256, num_prefill_seqs=prefill, num_decode_seqs=decode,
                          num_prefill_tokens=prefill, num_decode_tokens=decode, running_queue_len=seqs,
                          waiting_queue_len=0, kv_usage_pct=None)
    native.forward_pass(t_ns=step * 1000 + 500, step=step, phase=steps.phase_of(seqs, prefill, decode),
                        batch_size=seqs, num_tokens=seqs, duration_ns=100)
""",
        era=None,
    )
    expected = [phase for _, phase in cases]
    assert [row["phase"] for row in run.csv("batch_utilization.csv")] == expected, "the reader's step_phase"
    assert [row["phase"] for row in run.csv("forward_pass_timing.csv")] == expected, "the hooks' steps.phase_of"
