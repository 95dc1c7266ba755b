#!/usr/bin/env python3
"""A PyTorch CUDA graph workload with known answers, for checking ProfileMate on a GPU.

Captures one graph per batch size, replays each a distinct, known number of times, and records
for every replay the GPU time between torch.cuda.Events around it and the host time of the
replay call. Writes what it did as JSON. Run twice by run_gpu_check.sh: without ProfileMate
(baseline) and under CUDA_INJECTION64_PATH.
"""

import argparse
import json
import statistics
import time

import torch

# Distinct replay counts identify each graph in cuda_graph_usage.csv without labels.
REPLAYS = {1: 500, 16: 400, 128: 300, 512: 200}
HIDDEN = 2048


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = (
        torch.nn.Sequential(torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.GELU(), torch.nn.Linear(HIDDEN, HIDDEN))
        .cuda()
        .half()
    )
    stream = torch.cuda.Stream()
    results = {}
    with torch.no_grad():
        for batch, replays in REPLAYS.items():
            x = torch.randn(batch, HIDDEN, device="cuda", dtype=torch.half)
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):  # warm-up outside the graph, as PyTorch recommends
                    model(x)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                model(x)
            torch.cuda.synchronize()

            starts = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(replays)]
            host_ns = []
            for i in range(replays):
                starts[i].record()
                begin = time.perf_counter_ns()
                graph.replay()
                host_ns.append(time.perf_counter_ns() - begin)
                ends[i].record()
            torch.cuda.synchronize()
            gpu_ms = [s.elapsed_time(e) for s, e in zip(starts, ends)]
            results[str(batch)] = {
                "replays": replays,
                "gpu_ms_mean": statistics.fmean(gpu_ms),
                "gpu_ms_median": statistics.median(gpu_ms),
                "host_launch_us_median": statistics.median(host_ns) / 1000,
            }
    summary = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(),
        "graphs": results,
    }
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(summary, out, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
