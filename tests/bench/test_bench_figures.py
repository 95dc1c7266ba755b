"""The arithmetic of the real-vLLM benchmarks (bench/vllm_ab.py, bench/vllm_hook_cost.py) on
hand-made child outputs: which runs and steps are paired, and what the figures add up to."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import vllm_ab
import vllm_hook_cost


def test_interleaved_steps_are_paired_off_with_on_next_to_it() -> None:
    # off, on, on, off: pairs (100 off, 110 on) and (210 on, 200 off); a step without the figure
    # (None) drops its pair.
    steps = [
        {"on": False, "step": 100},
        {"on": True, "step": 110},
        {"on": True, "step": 210},
        {"on": False, "step": 200},
        {"on": False, "step": None},
        {"on": True, "step": 999},
    ]
    figures = vllm_ab.interleaved_figures(steps, "step", 10)
    assert figures["pairs"] == 2
    assert figures["change_pct"] == pytest.approx(7.5)  # the median of +10 % and +5 %
    assert (figures["off"], figures["on"]) == (pytest.approx(15), pytest.approx(16))


def test_hook_costs_are_added_per_call_and_per_engine_step() -> None:
    child = {
        # two runs of each variant; 100 steps per run
        "hooks": {
            "layer": {
                "calls": [200, 200, 200, 200],
                "bare": [1000, 1200],
                "hook": [5000, 5400],
                "vllm_bare": [300_000, 310_000],
                "vllm_hook": [305_000, 300_000],
            },
            "schedule": {
                "calls": [100, 100, 100, 100],
                "bare": [800, 800],
                "hook": [9800, 9800],
                "vllm_bare": [150_000, 150_000],
                "vllm_hook": [151_000, 151_000],
            },
            "seen in bare runs only": {"calls": [5], "bare": [900], "hook": [], "vllm_bare": [1], "vllm_hook": []},
        },
        "steps": [100, 100, 100, 100],
        "step_ns": [2_000_000, 2_100_000, 1_900_000, 2_000_000],
    }
    figures = vllm_hook_cost.summarize(child)
    rows = {row["hook"]: row for row in figures["rows"]}
    assert list(rows) == ["schedule", "layer"], "sorted by what they add per step, and complete pairs only"
    assert rows["layer"]["added_ns"] == pytest.approx(4100)  # 5200 - 1100
    assert rows["layer"]["calls_per_step"] == pytest.approx(2)
    assert rows["layer"]["added_per_step_us"] == pytest.approx(8.2)
    assert rows["schedule"]["added_per_step_us"] == pytest.approx(9.0)
    assert (rows["layer"]["vllm_bare_ns"], rows["layer"]["vllm_hook_ns"]) == (305_000, 302_500)
    assert figures["total_per_step_us"] == pytest.approx(17.2)
    assert figures["step_us"] == pytest.approx(2000)
