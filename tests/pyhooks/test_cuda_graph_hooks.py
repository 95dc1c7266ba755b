"""CUDAGraphWrapper.__call__: the batch descriptor becomes the capture context during a capture,
and only then; a replay (which skips the inner Python) and eager calls pass straight through."""

from __future__ import annotations


def test_a_capture_is_labelled_with_vllms_batch_descriptor_and_replays_are_not(run_workload) -> None:
    run = run_workload("""
from profilemate import _native
from vllm.compilation.cuda_graph import CUDAGraphWrapper
from vllm.config.compilation import CUDAGraphMode
from vllm.forward_context import BatchDescriptor, set_forward_context

seen = []
def model(x):
    seen.append(_native.capture_context())   # runs during capture and eager calls only
    return x * 2

full = CUDAGraphWrapper(model, runtime_mode=CUDAGraphMode.FULL)
piecewise = CUDAGraphWrapper(model, runtime_mode=CUDAGraphMode.PIECEWISE)
with set_forward_context(CUDAGraphMode.FULL, BatchDescriptor(8, num_reqs=8, uniform=True)):
    assert full(1) == 2                      # capture
    assert full(1) == 2 and full(1) == 2     # replays
with set_forward_context(CUDAGraphMode.PIECEWISE, BatchDescriptor(256)):
    assert piecewise(3) == 6                 # capture
    assert full(3) == 6                      # the FULL wrapper runs eagerly in PIECEWISE mode
assert piecewise(4) == 8                     # no forward context: eager
assert full.replays == 2
mode, tokens, reqs, uniform, lora, wrapper = seen[0]
assert (mode, tokens, reqs, uniform, lora) == ("FULL", 8, 8, True, False), seen[0]
assert wrapper.startswith("CUDAGraphWrapper@")
assert seen[1][:5] == ("PIECEWISE", 256, None, False, False), seen[1]
assert seen[2] is None and seen[3] is None, seen
assert len(seen) == 4
assert _native.capture_context() is None     # cleared after the capture
print("ok")
""")
    assert "Successfully patched CUDAGraphWrapper" in run.stderr


def test_replays_are_counted_per_descriptor_for_when_cupti_is_absent(run_workload) -> None:
    run = run_workload("""
from vllm.compilation.cuda_graph import CUDAGraphWrapper
from vllm.config.compilation import CUDAGraphMode
from vllm.forward_context import BatchDescriptor, set_forward_context

full = CUDAGraphWrapper(lambda x: x, runtime_mode=CUDAGraphMode.FULL)
for tokens, calls in ((8, 5), (16, 3), (8, 2)):   # the first call of a descriptor captures
    with set_forward_context(CUDAGraphMode.FULL, BatchDescriptor(tokens, num_reqs=tokens, uniform=True)):
        for _ in range(calls):
            full(1)
assert full.replays == 4 + 2 + 2, full.replays
""")
    rows = [
        (
            r["runtime_mode"],
            r["num_tokens"],
            r["num_reqs"],
            r["uniform"],
            r["replay_count"],
            r["replay_source"],
            r["gpu_replays"],
        )
        for r in run.csv("cuda_graph_usage.csv")
    ]
    assert rows == [("FULL", "8", "8", "True", "6", "python", "0"), ("FULL", "16", "16", "True", "2", "python", "0")]


def test_the_v2_runners_graph_manager_labels_its_captures_and_counts_replays(run_workload) -> None:
    run = run_workload("""
import contextlib
from profilemate import _native
from vllm.config.compilation import CUDAGraphMode
from vllm.v1.worker.gpu.cudagraph_utils import BatchExecutionDescriptor, CudaGraphManager

descs = [BatchExecutionDescriptor(CUDAGraphMode.FULL, 8, 8, uniform_token_count=1),
         BatchExecutionDescriptor(CUDAGraphMode.FULL, 32, 16)]
labels = []
@contextlib.contextmanager
def capturing():                       # what the injection library sees while the graph is captured
    labels.append(_native.capture_context())
    yield
CudaGraphManager.capturing = staticmethod(capturing)
manager = CudaGraphManager(descs)
manager.capture(lambda desc, warmup: (lambda mode: None))
assert [label[:5] for label in labels] == [("FULL", 8, 8, True, False), ("FULL", 32, 16, False, False)], labels
assert labels[0][5].startswith("CudaGraphManager@")
assert _native.capture_context() is None
for desc, replays in zip(descs, (3, 1)):
    for _ in range(replays):
        manager.run_fullgraph(desc)
""")
    rows = [
        (r["num_tokens"], r["num_reqs"], r["replay_count"], r["replay_source"]) for r in run.csv("cuda_graph_usage.csv")
    ]
    assert rows == [("8", "8", "3", "python"), ("32", "16", "1", "python")]
    assert "Successfully patched CudaGraphManager (V2)" in run.stderr
