"""Which scheduler step a forward pass belongs to. With async scheduling, step N+1 is scheduled
while step N executes, so time cannot match them: the scheduler hook remembers each
SchedulerOutput it returned, and the runner hook looks its argument up. A worker in another
process receives copies, never the same objects; there the runner counts its own calls, which
follow the scheduler's order because every scheduled step is executed once."""

from __future__ import annotations

from typing import Any

PREFILL, DECODE, MIXED, IDLE = 1, 2, 3, 4  # the proto's Phase numbers
MAX_IN_FLIGHT = 64  # steps scheduled but not yet executed; more means they never will be

# id(SchedulerOutput) -> (step, phase), written by the scheduler hook itself (every step: no
# call). An engine core whose workers run elsewhere never executes what it schedules: there the
# dict is emptied whenever it holds MAX_IN_FLIGHT.
in_flight: dict[int, tuple[int, int]] = {}
_executed = 0


def phase_of(num_seqs: int, num_prefill_seqs: int, num_decode_seqs: int) -> int:
    """A step's phase from its prefill/decode split: the rule the reader applies to SchedulerStep
    records (tools/session/event_labels.cpp, step_phase), stated the same way; both are checked
    against the same cases (tests/support/rules/step_phase_cases.txt)."""
    if num_seqs == 0:
        return IDLE
    if num_prefill_seqs > 0 and num_decode_seqs > 0:
        return MIXED
    return PREFILL if num_prefill_seqs > 0 else DECODE


def executed(output: Any) -> tuple[int, int] | None:
    """(step, phase) of the output being executed, when this process scheduled it; counts the
    execution either way."""
    global _executed
    found = in_flight.pop(id(output), None)
    if found is None:
        _executed += 1
        return None
    _executed = found[0]
    return found


def executed_count() -> int:
    return _executed
