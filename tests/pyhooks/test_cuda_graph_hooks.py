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
