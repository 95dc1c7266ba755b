#!/usr/bin/env python3
"""A PyTorch CUDA graph workload with known answers, for checking ProfileMate on a GPU.

    graph_workload.py --out RESULT.json     the workload (run_gpu_check.sh runs it without and
                                            with ProfileMate)
    graph_workload.py --probe --out P.json  what this machine's torch does, without a workload

The workload does what a vLLM server does with CUDA graphs, each graph replayed a distinct, known
number of times (so that cuda_graph_usage.csv identifies it by its replay count):
  timed_b*       one graph per batch size; before each timed replay a torch.cuda._sleep keeps the
                 GPU busy, so the torch.cuda.Events recorded around the replay, in the same stream
                 order, time the graph's execution and not the host's launch of it (the reference
                 for ProfileMate's GPU times); the host time of each replay call is its launch latency
  two_streams    replays alternating between two streams
  replayed_during_capture, captured_during_replays
                 a thread replays one graph while the main thread captures another (thread_local
                 capture mode, as a server capturing a new size while serving)
  uploaded       instantiated, then uploaded with cudaGraphUpload before its replays
  recaptured_1, recaptured_2
                 captured, replayed, destroyed (reset), captured again and replayed
  decode         a decode-like loop (replay, then the sampled tokens to the host), timed as
                 tokens/s, the median of several runs
A process exits 3 with a one-line reason when torch or a CUDA device is missing.
"""

import argparse
import ctypes
import glob
import json
import os
import statistics
import sys
import threading
import time

HIDDEN = 4096
LAYERS = 4
# The GPU is kept busy this long before each timed replay: longer than the host needs to enqueue
# the start event and the replay, even under a profiler.
SLEEP_US = 300
TIMED_BATCHES = (1, 16, 128, 512)
DECODE_BATCH = 16
DECODE_STEPS = 200
DECODE_RUNS = 5
# Host launch latency: replays of a one-kernel graph onto a busy GPU, in chunks small enough
# that the launch queue never fills (a full queue would time the GPU, not the host).
LATENCY_CHUNKS = 20
LATENCY_CHUNK = 100

# Replays per graph, all distinct. The decode graph adds its warm-up step to its runs.
REPLAYS = {
    "timed_b1": 200,
    "timed_b16": 201,
    "timed_b128": 202,
    "timed_b512": 203,
    "two_streams": 150,
    "replayed_during_capture": 3000,
    "captured_during_replays": 120,
    "uploaded": 130,
    "recaptured_1": 110,
    "recaptured_2": 140,
    "decode": DECODE_RUNS * DECODE_STEPS + 1,
    "latency": LATENCY_CHUNKS * LATENCY_CHUNK,
}


def mapped_libraries(fragment: str) -> list[str]:
    """The files mapped into this process whose name contains `fragment` (from /proc/self/maps)."""
    paths = set()
    with open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fragment in os.path.basename(fields[5].strip()):
                paths.add(fields[5].strip())
    return sorted(paths)


def cupti_on_disk() -> list[str]:
    """The CUPTIs ProfileMate could load here: NVIDIA's pip packages next to torch, the toolkit's."""
    patterns = [os.path.join(p, "nvidia", "*", "lib", "libcupti.so*") for p in sys.path if p]
    patterns.append("/usr/local/cuda*/extras/CUPTI/lib64/libcupti.so*")
    return sorted({path for pattern in patterns for path in glob.glob(pattern)})


def median_us(samples_ns: list[int]) -> float:
    return statistics.median(samples_ns) / 1000


def sleep_cycles_for(torch, microseconds: int) -> int:
    """The torch.cuda._sleep cycles that keep this GPU busy for `microseconds`, measured with events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    cycles = 10_000_000
    for _ in range(20):  # loads the kernel, and raises the clocks from idle
        torch.cuda._sleep(cycles)
    start.record()
    torch.cuda._sleep(cycles)
    end.record()
    end.synchronize()
    return int(cycles / (start.elapsed_time(end) * 1000) * microseconds)


class Workload:
    def __init__(self, torch):
        self.torch = torch
        torch.manual_seed(0)
        layers = []
        for _ in range(LAYERS):
            layers += [torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.GELU()]
        self.model = torch.nn.Sequential(*layers).cuda().half()
        self.sleep_cycles = sleep_cycles_for(torch, SLEEP_US)
        self.replays: dict[str, int] = {}
        self.notes: list[str] = []

    def capture(self, batch: int, **graph_args):
        """A graph of the model on a static batch, warmed up first as PyTorch recommends."""
        torch = self.torch
        x = torch.randn(batch, HIDDEN, device="cuda", dtype=torch.half)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.model(x)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, **graph_args):
            y = self.model(x)
        torch.cuda.synchronize()
        return graph, y

    def replay(self, name: str, graph, times: int) -> None:
        for _ in range(times):
            graph.replay()
        self.replays[name] = self.replays.get(name, 0) + times

    def timed(self, batch: int) -> dict:
        """GPU time of each replay between events on a busy GPU; host time of each replay call."""
        torch = self.torch
        name = f"timed_b{batch}"
        graph, _ = self.capture(batch)
        count = REPLAYS[name]
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(count)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(count)]
        host_ns, idle_risk = [], 0
        for i in range(count):
            if i % 50 == 0:
                torch.cuda.synchronize()  # a short queue: no launch waits for a free slot
            queued = time.perf_counter_ns()
            torch.cuda._sleep(self.sleep_cycles)
            starts[i].record()
            begin = time.perf_counter_ns()
            graph.replay()
            done = time.perf_counter_ns()
            ends[i].record()
            host_ns.append(done - begin)
            # The sleep must outlast the host's enqueueing, or the GPU waited for the launch.
            idle_risk += (done - queued) / 1000 > SLEEP_US * 0.8
        torch.cuda.synchronize()
        self.replays[name] = count
        gpu_us = [s.elapsed_time(e) * 1000 for s, e in zip(starts, ends)]
        return {
            "batch": batch,
            "gpu_us_mean": statistics.fmean(gpu_us),
            "gpu_us_median": statistics.median(gpu_us),
            "host_launch_us_median": median_us(host_ns),
            "replays_maybe_idle_gpu": idle_risk,
        }

    def two_streams(self) -> None:
        torch = self.torch
        graph, _ = self.capture(8)
        streams = [torch.cuda.Stream(), torch.cuda.Stream()]
        for i in range(REPLAYS["two_streams"]):
            stream = streams[i % 2]
            stream.wait_stream(streams[1 - i % 2])  # the graph's buffers are shared
            with torch.cuda.stream(stream):
                graph.replay()
        torch.cuda.synchronize()
        self.replays["two_streams"] = REPLAYS["two_streams"]

    def capture_during_replays(self) -> dict:
        """A thread replays one graph until the main thread has captured another; the main
        thread then tops the first up to its known count."""
        torch = self.torch
        busy, _ = self.capture(4)
        stream = torch.cuda.Stream()
        target = REPLAYS["replayed_during_capture"]
        started, captured = threading.Event(), threading.Event()
        during = [0]

        def replayer() -> None:
            with torch.cuda.stream(stream):
                while during[0] < target and not captured.is_set():
                    busy.replay()
                    during[0] += 1
                    if during[0] == 10:
                        started.set()
            stream.synchronize()

        thread = threading.Thread(target=replayer)
        thread.start()
        if not started.wait(timeout=60):
            raise RuntimeError("the replaying thread did not start replaying within 60 s")
        graph, _ = self.capture(32, capture_error_mode="thread_local")
        captured.set()
        thread.join()
        overlapped = during[0] < target
        if not overlapped:
            self.notes.append(f"the replaying thread did all {target} replays before the capture ended")
        self.replays["replayed_during_capture"] = during[0]
        self.replay("replayed_during_capture", busy, target - during[0])
        self.replay("captured_during_replays", graph, REPLAYS["captured_during_replays"])
        torch.cuda.synchronize()
        return {"overlapped": overlapped, "replays_during_capture": during[0]}

    def uploaded(self) -> dict:
        """cudaGraphUpload through the CUDA runtime torch loaded (torch has no upload call)."""
        torch = self.torch
        graph, _ = self.capture(64)
        runtimes = mapped_libraries("libcudart.so")
        exec_handle = getattr(graph, "raw_cuda_graph_exec", None)
        result = {"cudart": runtimes, "status": None}
        try:
            cudart = ctypes.CDLL(runtimes[0])
            cudart.cudaGraphUpload.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            stream = torch.cuda.current_stream().cuda_stream
            result["status"] = cudart.cudaGraphUpload(ctypes.c_void_p(exec_handle()), ctypes.c_void_p(stream))
        except (IndexError, TypeError, OSError, AttributeError, RuntimeError) as error:
            # No runtime mapped, no raw_cuda_graph_exec in this torch, or it refused: said, not fatal.
            self.notes.append(f"no cudaGraphUpload ({type(error).__name__}: {error})")
        self.replay("uploaded", graph, REPLAYS["uploaded"])
        torch.cuda.synchronize()
        return result

    def recaptured(self) -> None:
        graph, _ = self.capture(24)
        self.replay("recaptured_1", graph, REPLAYS["recaptured_1"])
        self.torch.cuda.synchronize()
        graph.reset()  # destroys the graph and its executable graph
        graph, _ = self.capture(24)
        self.replay("recaptured_2", graph, REPLAYS["recaptured_2"])
        self.torch.cuda.synchronize()

    def decode(self) -> dict:
        """tokens/s of replay-then-sample steps, as a server's decode loop; median of runs."""
        graph, logits = self.capture(DECODE_BATCH)
        self.replay("decode", graph, 1)
        logits.argmax(dim=-1).cpu()
        rates = []
        for _ in range(DECODE_RUNS):
            begin = time.perf_counter_ns()
            for _ in range(DECODE_STEPS):
                graph.replay()
                logits.argmax(dim=-1).cpu()  # the sampled tokens reach the host every step
            rates.append(DECODE_BATCH * DECODE_STEPS / ((time.perf_counter_ns() - begin) / 1e9))
        self.replays["decode"] += DECODE_RUNS * DECODE_STEPS
        return {"tokens_per_s_median": statistics.median(rates), "tokens_per_s": rates}

    def latency(self) -> dict:
        """Host time of a replay call (cudaGraphLaunch) of a one-kernel graph, GPU busy."""
        torch = self.torch
        x = torch.ones(256, device="cuda")
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            x.mul_(1.0001)
        torch.cuda.synchronize()
        host_ns = []
        for _ in range(LATENCY_CHUNKS):
            torch.cuda._sleep(self.sleep_cycles * 20)
            for _ in range(LATENCY_CHUNK):
                begin = time.perf_counter_ns()
                graph.replay()
                host_ns.append(time.perf_counter_ns() - begin)
            torch.cuda.synchronize()
        self.replays["latency"] = len(host_ns)
        return {"host_launch_us_median": median_us(host_ns), "samples": len(host_ns)}


def environment(torch) -> dict:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_injection64_path": os.environ.get("CUDA_INJECTION64_PATH", ""),
        "cupti_mapped_at_import": mapped_libraries("libcupti.so"),
    }


def import_torch():
    """torch with a usable CUDA device, or exit 3 with the reason (no verdict possible here)."""
    try:
        import torch
    except Exception as error:  # noqa: BLE001 - any failure to import means the same: no torch
        print(f"no torch: {python_name()} cannot import torch ({type(error).__name__}: {error})")
        sys.exit(3)
    if not torch.cuda.is_available():
        print(f"no GPU: torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device")
        sys.exit(3)
    return torch


def python_name() -> str:
    return sys.executable or "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    parser.add_argument("--probe", action="store_true", help="only what torch loads and sees")
    args = parser.parse_args()

    torch = import_torch()
    result = environment(torch)
    torch.cuda.init()
    result["device"] = torch.cuda.get_device_name()
    result["cupti_mapped_after_cuda_init"] = mapped_libraries("libcupti.so")
    result["cudart_mapped"] = mapped_libraries("libcudart.so")
    result["has_raw_cuda_graph_exec"] = hasattr(torch.cuda.CUDAGraph, "raw_cuda_graph_exec")
    result["profilemate_injection_mapped"] = mapped_libraries("libprofilemate_injection")
    result["cupti_on_disk"] = cupti_on_disk()
    if not args.probe:
        with torch.no_grad():
            work = Workload(torch)
            result["timed"] = {f"timed_b{batch}": work.timed(batch) for batch in TIMED_BATCHES}
            work.two_streams()
            result["capture_during_replays"] = work.capture_during_replays()
            result["upload"] = work.uploaded()
            work.recaptured()
            result["decode"] = work.decode()
            result["latency"] = work.latency()
            result["replays"] = work.replays
            result["explicit_destroys"] = 1
            result["notes"] = work.notes
        result["cupti_mapped_at_end"] = mapped_libraries("libcupti.so")
    result["done_unix_ns"] = time.time_ns()
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(result, out, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
