#!/usr/bin/env python3
"""The GPU time of ProfileMate's MoE counting ops, as CUDA graphs replay them (issue 13).

    PYTHONPATH=<stage>/lib/python moe_counting.py --out RESULT.json

ProfileMate's MoE hooks (pyhooks/profilemate/patches/moe.py) add device ops to every MoE layer
call, which CUDA graph captures record and every replay runs again. This captures LAYERS layer
calls' counting ops (moe._count, the hooks' own function, on a static batch of ROWS rows of which
REAL count) next to one trivial kernel, and a baseline graph of that kernel alone; each graph is
replayed REPLAYS times between CUDA events on a GPU kept busy before each replay (so the events
time the graph's execution, not its launch). The counting's GPU time per layer call is the
difference of the two graphs' median GPU times divided by LAYERS. The torch profiler lists the
kernels of one replay (where it sees kernels inside graphs). The counters must then hold exactly
REPLAYS times the real rows' selections.

No vLLM is needed: the layers are plain objects that name their layer and experts, as vLLM's do.
A process exits 3 with a one-line reason when torch or a CUDA device is missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from typing import Any

import graph_workload  # same folder: import_torch (exit 3 without a GPU), sleep_cycles_for

LAYERS = 32
EXPERTS = 64
TOP_K = 8
ROWS = 256  # the captured batch: every replay is padded to it
REAL = 200  # the rows of real tokens in each replay
REPLAYS = 200
SLEEP_US = 200  # the GPU is kept busy this long before each timed replay


class Layer:
    """What the hooks read of a vLLM MoE layer: its name and its number of experts."""

    def __init__(self, index: int) -> None:
        self.layer_name = f"model.layers.{index}.mlp.experts"
        self.global_num_experts = EXPERTS


def expected_counts(ids: list[list[int]], real: int, replays: int) -> list[int]:
    """Per expert: how often the first `real` rows select it, times the replays."""
    counts = [0] * EXPERTS
    for row in ids[:real]:
        for expert in row:
            counts[expert] += replays
    return counts


def per_layer_call_us(counting_us: list[float], baseline_us: list[float], layers: int) -> float:
    """GPU time the counting adds to one layer call: the medians' difference, per layer."""
    return (statistics.median(counting_us) - statistics.median(baseline_us)) / layers


def kernels_of(torch: Any, replay: Any) -> dict[str, dict[str, float]]:
    """{kernel name: {calls, total_us}} of one call of `replay` under the torch profiler; empty
    where the profiler does not see kernels inside graphs."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as profiler:
        replay()
        torch.cuda.synchronize()
    found = {}
    for event in profiler.key_averages():
        total = getattr(event, "device_time_total", None)
        if total is None:
            total = getattr(event, "cuda_time_total", 0)
        if total:
            found[event.key] = {"calls": event.count, "total_us": float(total)}
    return found


def gpu_times_us(torch: Any, graph: Any, sleep_cycles: int) -> list[float]:
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(REPLAYS)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(REPLAYS)]
    for i in range(REPLAYS):
        if i % 50 == 0:
            torch.cuda.synchronize()  # a short queue: no launch waits for a free slot
        torch.cuda._sleep(sleep_cycles)
        starts[i].record()
        graph.replay()
        ends[i].record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) * 1000 for start, end in zip(starts, ends)]


def measure(torch: Any) -> dict[str, Any]:
    from profilemate.patches import moe

    torch.manual_seed(0)
    ids = torch.randint(0, EXPERTS, (ROWS, TOP_K), device="cuda", dtype=torch.int32)
    logits = torch.zeros(ROWS, EXPERTS, device="cuda")
    owners = [Layer(index) for index in range(LAYERS)]
    layers = [moe._new_layer(owner, ids, logits) for owner in owners]
    assert all(layer is not None and layer.device.graphs for layer in layers), "no counters on a CUDA device"
    for layer in layers:  # the warm-up run before any capture: counts nothing, makes what counting takes
        moe._count(layer, ids)
    marker = torch.zeros(1, device="cuda")

    def capture(counting: bool) -> Any:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            marker.add_(1)
            if counting:
                for layer in layers:
                    moe._count(layer, ids)
        torch.cuda.synchronize()
        return graph

    baseline, counting = capture(False), capture(True)
    for layer in layers:  # what the capture's first run of the ops may have added (padding rows only)
        layer.counts.zero_()
    sleep_cycles = graph_workload.sleep_cycles_for(torch, SLEEP_US)
    moe.before_forward(REAL, 1)  # the model runner hook's part: the real rows of the step
    baseline_us = gpu_times_us(torch, baseline, sleep_cycles)
    counting_us = gpu_times_us(torch, counting, sleep_cycles)
    torch.cuda.synchronize()
    expected = expected_counts(ids.tolist(), REAL, REPLAYS)
    wrong = [layer.index for layer in layers if layer.counts[:EXPERTS].tolist() != expected]
    moe.after_forward(1)
    try:
        kernels = kernels_of(torch, counting.replay)
    except Exception as error:  # noqa: BLE001 - the listing is extra: its failure is reported, not fatal
        kernels = {"(torch profiler failed)": {"calls": 0, "total_us": 0.0, "error": str(error)}}
    return {
        "layers": LAYERS,
        "experts": EXPERTS,
        "top_k": TOP_K,
        "rows": ROWS,
        "real_rows": REAL,
        "replays": REPLAYS,
        "baseline_graph_gpu_us_median": statistics.median(baseline_us),
        "counting_graph_gpu_us_median": statistics.median(counting_us),
        "gpu_us_per_layer_call": per_layer_call_us(counting_us, baseline_us, LAYERS),
        "kernels_of_one_replay": kernels,
        "layers_with_wrong_counts": wrong,
    }


def summary(result: dict[str, Any]) -> str:
    """The line run_gpu_check.sh prints: the kernels that run once or more per layer call (the
    baseline's one kernel runs once per graph), each named up to its template arguments."""
    layers = result["layers"]
    kernels = {name: k for name, k in result["kernels_of_one_replay"].items() if k["calls"] >= layers}
    listed = ", ".join(
        f"{name.split('<')[0].split('(')[0][-48:]} x{k['calls'] / layers:g} {k['total_us'] / k['calls']:.2f} us"
        for name, k in kernels.items()
    )
    return (
        f"MoE counting: {result['gpu_us_per_layer_call']:.2f} us GPU per layer call (graph of {result['layers']} "
        f"layer calls, {result['rows']} rows, top-{result['top_k']} of {result['experts']} experts: "
        f"{result['counting_graph_gpu_us_median']:.1f} us against {result['baseline_graph_gpu_us_median']:.1f} us "
        f"without, medians of {result['replays']} replays); kernels per layer call: {listed or 'not listed'}; counts "
        + (
            "exact"
            if not result["layers_with_wrong_counts"]
            else f"WRONG in layers {result['layers_with_wrong_counts']}"
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()
    torch = graph_workload.import_torch()
    result = measure(torch)
    result["device"] = torch.cuda.get_device_name()
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=2)
    print(summary(result))
    sys.exit(1 if result["layers_with_wrong_counts"] else 0)


if __name__ == "__main__":
    main()
