"""MoE layers: expert selections counted on the device, and each layer call timed in eager steps.

Counting follows vLLM's EPLB pattern (vllm.md 1.7), because under CUDA graphs no Python inside
the model runs on replay: only device ops recorded at capture time do.
- Each MoE layer gets a slice of a persistent device counter arena, allocated when the layer is
  first seen (vLLM's profile run, before any graph capture) and never reallocated, so a captured
  graph keeps adding into the same memory.
- Every expert selection adds its tokens to the slice in two device ops, no host read: a clamp
  of the ids between a per-row lower bound and the layer's trash slot (one past its experts),
  then an index_add_ of ones. Both take the ids in their own integer type: no conversion op,
  and on the CPU no type promotion inside the clamp. The lower bounds are a persistent device
  column (one per ids type), 0 for the rows of real tokens and above every id for the others,
  which before_forward() fills before each real forward and after_forward() resets: a padded
  row, and every row of warm-up, profile, capture and dummy runs, lands in the trash slot;
  replays count the rows the column says. The same clamp keeps any id past the experts in the
  trash slot and a negative one at expert 0 (an index out of range would be a device-side
  assert, which would end vLLM's process).
- A device without CUDA graphs (the CPU) replays nothing: every selection runs its Python, which
  knows whether a step is running and its real rows, and a step fills nothing. On the CPU the
  native recorder adds the ids of the real rows to the layer's counters in place, reading both
  where they lie in host memory: no torch op at all (each costs microseconds there, with the
  caches cold from the forward). Another device without graphs adds them in one index_add_. No
  clamp: an id out of range is refused instead of asserting on a device, and fails that call's
  counting as a recording failure (a router's ids are in range; vLLM applies any expert map
  after the selection).
- after_forward(), once per step and off the hot path, copies the counters to pinned host memory
  and zeroes them on the same stream, with an event; copies whose event has completed (query(),
  never waiting) are added up on the host and written per layer as MoeExpertCounts at most once
  per EMIT_INTERVAL_NS (one record per layer and step would be megabytes a minute). On the CPU
  the counters are host memory already: a step does nothing more, and the write reads and zeroes
  them.

The routers do not know their layer: the layer's forward implementation (MoERunner._forward_impl
and its older forms) makes itself the thread's current layer for the selections inside it, and
times the call (CPU, and GPU through CUDA events resolved later) when it runs inside a real step
and outside a stream capture: in eager steps, since under graphs it does not run at all.

Under torch.compile tracing (vLLM's default on the CPU, where the MoE op is plain Python) every
hook steps aside, so Dynamo traces vLLM's code alone: nothing is counted or timed there.
"""

from __future__ import annotations

import inspect
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..registry import PatchTarget
from . import recording, steps
from .cuda_events import GpuTimer, initialised_cuda

EMIT_INTERVAL_NS = 1_000_000_000
_ARENA_SIZE = 1 << 15  # counters per arena: every MoE layer of the largest models in one copy
_ROWS = 1 << 14  # rows of the bounds column; an eager batch with more makes its own
_MAX_HEADS = 2048  # cached views per device: a few per batch size seen, usually far fewer
_IN_FLIGHT = 4  # host copies pending per arena; beyond, the device keeps counting until the next

# Per thread (vLLM's dual-batch overlap runs micro-batches in threads that take turns inside a layer):
# .call, [the layer object whose forward is running, the rows its selections counted]; .selecting,
# inside a selection.
_local = threading.local()
# Between before_forward and after_forward, unless that step's forward is being captured, layer
# calls are timed. None: not yet asked this step (its first layer call asks, so that a step without
# MoE layers asks nothing).
_timing: bool | None = False
_gpu_timing = False  # with _timing, where CUDA is initialised: the timings take GPU time too
_step = 0  # the step whose forward runs (for the layer timings)
_unpadded = 0  # the rows that count, as the devices' bounds columns say (none outside a step)
_last_emit_ns = 0


class _Arena:
    """Counters of several layers in one device tensor, so that one copy and one zero_ read them
    all out, and their sums on the host since the last write."""

    def __init__(self, device: _Device, size: int) -> None:
        torch = device.torch
        self.device = device
        self.counts = torch.zeros(size, dtype=torch.int64, device=device.device)
        self.totals = torch.zeros(size, dtype=torch.int64)
        self.used = 0
        self.layers: list[_Layer] = []
        self.last_read: tuple[int, int] | None = None  # (t_ns, step) of the newest copy in totals
        self.pending: deque[tuple[int, int, int, Any, Any]] = deque()  # (t_ns, step, used, host, event)
        self.spare: list[tuple[Any, Any]] = []  # (pinned host buffer, event)

    def read_out(self, t_ns: int, step: int) -> None:
        """Starts the copy of the counters (on a CUDA device) to the host, and zeroes them."""
        used = self.used
        torch = self.device.torch
        if self.spare:
            host, event = self.spare.pop()
        elif len(self.pending) < _IN_FLIGHT:
            with torch.inference_mode(False):  # see _new_layer
                host = torch.empty(self.counts.shape[0], dtype=torch.int64, pin_memory=True)
            event = torch.cuda.Event()
        else:
            return  # the GPU is behind: these counts go with the next copy
        host[:used].copy_(self.counts[:used], non_blocking=True)
        self.counts[:used].zero_()  # same stream: nothing counted between copy and zero is lost
        event.record()
        self.pending.append((t_ns, step, used, host, event))

    def poll(self) -> None:
        while self.pending and self.pending[0][4].query():
            t_ns, step, used, host, event = self.pending.popleft()
            self.totals[:used] += host[:used]
            self.last_read = (t_ns, step)
            self.spare.append((host, event))

    def write(self, native: Any, t_ns: int, step: int) -> None:
        """Writes the totals per layer, as of `step` at t_ns where the counters are counted
        synchronously (no CUDA: they hold everything up to now), else as of the newest copy."""
        if not self.device.cuda:
            self.totals[: self.used] += self.counts[: self.used]
            self.counts[: self.used].zero_()
        elif self.last_read is None:
            return
        else:
            t_ns, step = self.last_read
        totals = self.totals[: self.used].tolist()  # host memory: no device involved
        for layer in self.layers:
            counts = totals[layer.offset : layer.offset + layer.num_experts]
            if any(counts):
                native.moe_expert_counts(t_ns=t_ns, step=step, layer=layer.index, first_expert=0, counts=counts)
        self.totals[: self.used].zero_()
        self.last_read = None


class _Device:
    """What the counting ops of one device share: the rows' lower bounds (a column per ids type),
    runs of ones to add (one per top_k)."""

    def __init__(self, torch: Any, device: Any) -> None:
        self.torch = torch
        self.device = device
        self.cuda = device.type == "cuda"
        # Host memory (the CPU): the selections are counted by the native recorder, reading the
        # ids where they are; no torch op (tests clear it to take other devices' eager path).
        self.host = device.type == "cpu"
        self.id_bytes = {torch.int32: 4, torch.int64: 8}  # the ids' types it reads, by dtype
        self.count_selections = recording.native().count_selections if self.host else None
        # Whether graphs may replay the counting ops, so that their rows must be bounded on the
        # device (tests of the graph path set it on the CPU, where make_fx stands in for graphs).
        self.graphs = self.cuda
        self.low: dict[Any, Any] = {}  # by the ids' dtype
        self.ones: dict[int, Any] = {}  # by top_k: _ROWS * top_k ones
        # The first rows of a column, by (column, rows): views made once, so that a layer call
        # dispatches only its two ops and one view, and a step's fills no view (each torch call
        # costs microseconds on the CPU when vLLM's forward has left the caches cold).
        self.heads: dict[tuple[str, Any, int], Any] = {}
        self.counting = min(_unpadded, _ROWS)  # the rows of every low column that count (0), not (pad)
        self.arenas: list[_Arena] = []

    def low_for(self, dtype: Any) -> Any:
        """The bounds column for ids of `dtype`; made outside any graph (by _new_layer, _prepare)."""
        low = self.low.get(dtype)
        if low is None:
            torch = self.torch
            low = self.low[dtype] = torch.full((_ROWS, 1), _pad(torch, dtype), dtype=dtype, device=self.device)
            low[: self.counting].fill_(0)
        return low

    def ones_for(self, top_k: int) -> Any:
        ones = self.ones.get(top_k)
        if ones is None:
            ones = self.ones[top_k] = self.torch.ones(_ROWS * top_k, dtype=self.torch.int64, device=self.device)
        return ones

    def low_head(self, dtype: Any, rows: int) -> Any:
        """The bounds of the first `rows` rows (<= _ROWS) for ids of `dtype`: a view, so that one
        made inside a capture allocates nothing."""
        return self._head(self.low[dtype], ("low", dtype, rows), rows)

    def ones_of(self, top_k: int, rows: int) -> Any:
        """Ones for the selections of `rows` rows of `top_k` experts each: a view for rows <=
        _ROWS, else made now (only an eager batch has more)."""
        if rows > _ROWS:
            return self.torch.ones(rows * top_k, dtype=self.torch.int64, device=self.device)
        return self._head(self.ones[top_k], ("ones", top_k, rows), rows * top_k)

    def _head(self, column: Any, key: tuple[str, Any, int], length: int) -> Any:
        head = self.heads.get(key)
        if head is None:
            if len(self.heads) >= _MAX_HEADS:
                self.heads.clear()
            head = self.heads[key] = column[:length]
        return head

    def set_unpadded(self, rows: int) -> None:
        """The first `rows` rows count from now on: one fill of the rows that change per column,
        outside any graph (before and after a step's forward: two small fills per step, not the
        column)."""
        rows = min(rows, _ROWS)
        counting = self.counting
        for dtype, low in self.low.items():
            if rows > counting:
                (self.low_head(dtype, rows) if counting == 0 else low[counting:rows]).fill_(0)
            elif rows < counting:
                (self.low_head(dtype, counting) if rows == 0 else low[rows:counting]).fill_(_pad(self.torch, dtype))
        self.counting = rows

    def arena_for(self, size: int) -> _Arena:
        for arena in self.arenas:
            if arena.used + size <= arena.counts.shape[0]:
                return arena
        self.arenas.append(_Arena(self, max(_ARENA_SIZE, size)))
        return self.arenas[-1]


class _Layer:
    def __init__(self, owner: Any, index: int, device: _Device, num_experts: int) -> None:
        self.owner = owner  # kept alive, so that its id() is not reused
        self.index = index
        self.device = device
        self.num_experts = num_experts
        self.arena = device.arena_for(num_experts + 1)
        self.offset = self.arena.used
        self.arena.used += num_experts + 1
        self.arena.layers.append(self)
        self.counts = self.arena.counts[self.offset : self.offset + num_experts + 1]  # + the trash slot
        self.counts_address = self.counts.data_ptr() if device.host else 0  # the counters never move
        self.ids_type: tuple[Any, int] | None = None  # (dtype, top_k) the tensors below are for
        self.trash: Any = None  # the trash slot as clamp's upper bound, of the ids' dtype

    def prepare(self, dtype: Any, top_k: int) -> None:
        """Outside any graph: what the counting ops take for ids of this dtype and top_k."""
        device = self.device
        device.low_for(dtype)
        device.ones_for(top_k)
        self.trash = device.torch.full((), self.num_experts, dtype=dtype, device=device.device)
        self.ids_type = (dtype, top_k)


_devices: dict[Any, _Device] = {}
_layers: dict[int, _Layer] = {}  # by id() of the layer object (or of the router, when no layer is known)
_indices: dict[int, int] = {}  # layer index by id() of the layer object
_named: list[Any] = []  # the objects of _indices, kept alive


def _layer_index(owner: Any) -> int:
    """The layer number in vLLM's name of the layer ("model.layers.3.mlp.experts" -> 3), else the
    next number after those seen."""
    index = _indices.get(id(owner))
    if index is None:
        name = getattr(owner, "layer_name", None)
        numbers = [int(part) for part in name.split(".") if part.isdigit()] if isinstance(name, str) else []
        index = numbers[0] if numbers else max(_indices.values(), default=-1) + 1
        _indices[id(owner)] = index
        _named.append(owner)
    return index


def _num_experts(owner: Any, router_logits: Any) -> int:
    """The most experts any source says this layer has (physical ones included, with EPLB)."""
    config = getattr(owner, "moe_config", None)
    sizes = [getattr(config, "num_experts", 0), getattr(owner, "global_num_experts", 0)]
    if hasattr(router_logits, "shape"):
        sizes.append(router_logits.shape[-1])
    return max(int(size) for size in sizes)


def _pad(torch: Any, dtype: Any) -> int:
    """The lower bound of a row that does not count: above every trash slot."""
    return int(torch.iinfo(dtype).max)


def _capturing() -> bool:
    cuda = initialised_cuda()
    return cuda is not None and cuda.is_current_stream_capturing()


def _new_layer(owner: Any, topk_ids: Any, router_logits: Any) -> _Layer | None:
    if _capturing():
        # Allocating now would put the zeroing into the graph, which every replay would repeat.
        recording.failed()
        return None
    import torch

    # vLLM's worker runs under torch.inference_mode, where new tensors are inference tensors,
    # which nothing may update in place outside it (flush() at exit does): make normal ones.
    with torch.inference_mode(False):
        device = _devices.get(topk_ids.device)
        if device is None:
            device = _devices[topk_ids.device] = _Device(torch, topk_ids.device)
        layer = _Layer(owner, _layer_index(owner), device, _num_experts(owner, router_logits))
    _layers[id(owner)] = layer
    return layer


def _prepare(layer: _Layer, topk_ids: Any, top_k: int) -> bool:
    """Whether the layer's counting tensors for the dtype and top_k of its ids (rows x top_k) are
    made: made now if not yet (the first selection, a warm-up or profile run before any capture,
    at the latest) or when they change; never inside a capture, where making them would put their
    fills into the graph."""
    if layer.ids_type == (topk_ids.dtype, top_k):
        return True
    if _capturing():
        recording.failed()
        return False
    import torch

    with torch.inference_mode(False):  # see _new_layer
        layer.prepare(topk_ids.dtype, top_k)
    return True


def _count(layer: _Layer, topk_ids: Any, call: list[Any] | None = None) -> None:
    """Adds the selections of the unpadded rows of topk_ids (rows x top_k) to the layer's
    counters; where graphs may replay, with device ops only. Adds the rows of topk_ids to the
    layer call's rows (`call`, see _local), which its timing reports without asking a tensor."""
    shape = topk_ids.shape
    rows = shape[0]
    if call is not None:
        call[1] += rows
    if rows == 0:
        return
    if len(shape) != 2:
        topk_ids = topk_ids.reshape(rows, -1)
        shape = topk_ids.shape
    device, top_k = layer.device, shape[1]
    if not device.graphs:  # this Python runs for every selection: the rows that count are known
        rows = min(rows, _unpadded)
        if not rows:
            return
        if device.host and topk_ids.is_cpu:  # the recorder must read host memory, nothing else
            _count_on_host(layer, topk_ids, rows, top_k)
        elif _prepare(layer, topk_ids, top_k):  # one index_add_ (it refuses ids on another device)
            layer.counts.index_add_(0, topk_ids[:rows].reshape(-1), device.ones_of(top_k, rows))
        return
    if not _prepare(layer, topk_ids, top_k):
        return
    torch = device.torch
    if rows <= _ROWS:
        low = device.low_head(topk_ids.dtype, rows)
    elif _capturing():  # a graph would keep a column that before_forward never fills
        recording.failed()
        return
    else:  # an eager batch larger than the column: the bounds made now are the step's
        dtype = topk_ids.dtype
        low = torch.full((rows, 1), _pad(torch, dtype), dtype=dtype, device=topk_ids.device)
        low[: min(_unpadded, rows)].fill_(0)
    chosen = torch.clamp(topk_ids, min=low, max=layer.trash)
    layer.counts.index_add_(0, chosen.view(-1), device.ones_of(top_k, rows))


def _count_on_host(layer: _Layer, topk_ids: Any, rows: int, top_k: int) -> None:
    """Adds the selections of the first `rows` rows of ids in host memory: the native recorder
    reads them in place and adds them to the layer's counters, no torch op."""
    device = layer.device
    id_bytes = device.id_bytes.get(topk_ids.dtype)
    if id_bytes is None:  # ids of another type: made int64 (one op, for a router that is unusual)
        topk_ids, id_bytes = topk_ids[:rows].contiguous().long(), 8
    elif not topk_ids.is_contiguous():  # the rows must lie one after another
        topk_ids = topk_ids[:rows].contiguous()
    device.count_selections(
        counts_address=layer.counts_address,
        num_experts=layer.num_experts,
        ids_address=topk_ids.data_ptr(),
        num_ids=rows * top_k,
        id_bytes=id_bytes,
    )


def _is_compiling() -> Callable[[], bool]:
    """A function that Dynamo reads as True while it traces: torch.compiler.is_dynamo_compiling
    (since torch 2.3), else is_compiling. In eager code the first is one Python call, the second
    two, and each costs about a microsecond where a hook runs after vLLM's own work (cold caches)."""
    compiler = getattr(sys.modules.get("torch"), "compiler", None)
    for name in ("is_dynamo_compiling", "is_compiling"):
        is_compiling = getattr(compiler, name, None)
        if callable(is_compiling):
            return is_compiling
    return lambda: False


def _position(function: Callable[..., Any], name: str) -> tuple[int | None, bool]:
    """(index of parameter `name` among the positional arguments, whether the first is self)."""
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None, False
    return (names.index(name) if name in names else None), bool(names) and names[0] == "self"


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, position: int | None) -> Any:
    if name in kwargs:
        return kwargs[name]
    if position is not None and position < len(args):
        return args[position]
    return None


def wrap_selection(original: Callable[..., Any]) -> Callable[..., Any]:
    """A selection (a router's or the layer's select_experts method, or the CPU routing function)
    returns (topk_weights, topk_ids, ...): the ids are counted for the current layer, or for the
    router itself when no layer forward is running. Selections nested in one already being counted
    pass through."""
    recording.on_exit(flush)
    is_compiling = _is_compiling()
    logits_at, method = _position(original, "router_logits")

    def select_experts(*args: Any, **kwargs: Any) -> Any:
        if is_compiling() or getattr(_local, "selecting", False):
            return original(*args, **kwargs)
        _local.selecting = True
        try:
            result = original(*args, **kwargs)
        finally:
            _local.selecting = False
        try:
            call = getattr(_local, "call", None)
            owner = call[0] if call is not None else args[0] if method else None
            if owner is not None:
                ids = result[1]
                layer = _layers.get(id(owner))
                if layer is None:
                    layer = _new_layer(owner, ids, _argument(args, kwargs, "router_logits", logits_at))
                if layer is not None:
                    _count(layer, ids, call)
        except Exception:  # noqa: BLE001 - vLLM must never see our failure: it is counted
            recording.failed()
        return result

    return select_experts


def wrap_layer_forward(original: Callable[..., Any]) -> Callable[..., Any]:
    native = recording.native()
    now = native.now
    # The step's first layer call asks whether it is captured (_timing_of_step): the timer need
    # not ask again.
    timer = GpuTimer(
        lambda fields, gpu_ns: native.moe_timing(**fields, gpu_duration_ns=gpu_ns),
        max_pending=4096,
        check_capture=False,
    )
    recording.on_exit(timer.drain)
    recording.on_exit(flush)
    is_compiling = _is_compiling()
    hidden_at, _ = _position(original, "hidden_states")
    hidden_at = None if hidden_at is None else hidden_at - 1  # among the arguments after self

    def forward_impl(self: Any, *args: Any, **kwargs: Any) -> Any:
        if is_compiling():
            return original(self, *args, **kwargs)
        started = begin = None
        timing = _timing
        if timing is None:
            timing = _timing_of_step()
        if timing:
            try:
                started = now()
                if _gpu_timing:  # on the CPU, not even the timer's own question
                    begin = timer.start()
            except Exception:  # noqa: BLE001
                recording.failed()
        outer = getattr(_local, "call", None)
        _local.call = call = [self, 0]
        try:
            result = original(self, *args, **kwargs)
        finally:
            _local.call = outer
        if started is not None:
            try:
                ended = now()
                # The rows its selections counted, else its hidden states' rows: asking the
                # tensor (.shape) costs several microseconds here, with the caches cold from the
                # layer's work.
                tokens = call[1] or _argument(args, kwargs, "hidden_states", hidden_at).shape[0]
                layer = _indices.get(id(self))
                if layer is None:
                    layer = _layer_index(self)
                if begin is None:  # no GPU time to wait for (the CPU): recorded now, no payload
                    native.moe_timing(
                        t_ns=started, step=_step, layer=layer, num_tokens=tokens, duration_ns=ended - started
                    )
                else:
                    fields = {
                        "t_ns": started,
                        "step": _step,
                        "layer": layer,
                        "num_tokens": tokens,
                        "duration_ns": ended - started,
                    }
                    timer.stop(begin, fields)
                    timer.poll()  # regions are pending only where they have begun
            except Exception:  # noqa: BLE001
                recording.failed()
        return result

    return forward_impl


def before_forward(num_unpadded_tokens: int, step: int) -> None:
    """Before the real forward pass of `step` (not a dummy, profile or capture run): the
    selections of its first num_unpadded_tokens rows count, and its layer calls are timed. Fills
    the rows' bounds with non-blocking device ops where graphs may replay the counting."""
    global _timing, _step, _unpadded
    _unpadded = num_unpadded_tokens
    _step = step
    _timing = None
    if not _devices:
        return
    try:
        for device in _devices.values():
            if device.graphs:
                device.set_unpadded(num_unpadded_tokens)
    except Exception:  # noqa: BLE001
        recording.failed()


def _timing_of_step() -> bool:
    """Whether this step's layer calls are timed, asked at its first layer call: vLLM captures
    graphs in capture_model, never inside a step, so a step's forward is captured whole or not at
    all."""
    global _timing, _gpu_timing
    _timing = _gpu_timing = False
    try:
        cuda = initialised_cuda()
        _gpu_timing = cuda is not None
        _timing = not (_gpu_timing and cuda.is_current_stream_capturing())
    except Exception:  # noqa: BLE001
        recording.failed()
    return _timing


def after_forward(step: int) -> None:
    """After the forward pass of `step` was launched: stops counting (no row counts), starts the
    copy of every counter to the host, and writes the copies that have completed."""
    global _timing, _unpadded
    _timing = False
    _unpadded = 0
    if not _devices:
        return
    try:
        native = recording.native()
        t_ns = native.now()
        for device in _devices.values():
            if device.graphs:
                device.set_unpadded(0)
            if device.cuda:  # other devices count synchronously: the write reads them
                for arena in device.arenas:
                    arena.poll()
                    arena.read_out(t_ns, step)
        if t_ns - _last_emit_ns >= EMIT_INTERVAL_NS:  # asked here: most steps call nothing more
            _write(native, t_ns, step)
    except Exception:  # noqa: BLE001
        recording.failed()


def flush() -> None:
    """At exit: reads out what is still on the device and writes every copy that has completed;
    never waits for the device (a copy it cannot finish in time is lost)."""
    if not _devices:
        return
    try:
        native = recording.native()
        t_ns = native.now()
        step = steps.executed_count()
        for device in _devices.values():
            if device.cuda:
                for arena in device.arenas:
                    arena.read_out(t_ns, step)
                    arena.poll()
        _write(native, t_ns, step)
    except Exception:  # noqa: BLE001
        recording.failed()


def _write(native: Any, t_ns: int, step: int) -> None:
    """Writes every arena's totals (those counted synchronously as of `step` at t_ns)."""
    global _last_emit_ns
    _last_emit_ns = t_ns
    for device in _devices.values():
        for arena in device.arenas:
            arena.write(native, t_ns, step)


_FUSED_MOE = "vllm.model_executor.layers.fused_moe"
TARGETS = [
    PatchTarget(
        "MoE layer",
        f"{_FUSED_MOE}.runner.moe_runner",
        "MoERunner._forward_impl",
        wrap_layer_forward,
        alternates=(
            (f"{_FUSED_MOE}.runner.default_moe_runner", "DefaultMoERunner.forward_impl"),
            (f"{_FUSED_MOE}.layer", "FusedMoE.forward_impl"),
        ),
        required_params=("hidden_states", "router_logits"),
    ),
    # "self" keeps Aug 2025's @staticmethod FusedMoE.select_experts out: replaced by a plain
    # function, it would be bound to the layer when called through one.
    PatchTarget(
        "MoE router",
        f"{_FUSED_MOE}.router.fused_moe_router",
        "FusedMoERouter.select_experts",
        wrap_selection,
        alternates=((f"{_FUSED_MOE}.layer", "FusedMoE.select_experts"),),
        required_params=("self", "hidden_states", "router_logits"),
    ),
    # The CPU routing function is imported by name: patched in the module its callers look it up in.
    PatchTarget(
        "MoE CPU routing",
        f"{_FUSED_MOE}.router.cpu_router",
        "select_experts",
        wrap_selection,
        alternates=(
            (f"{_FUSED_MOE}.experts.cpu_moe", "select_experts"),
            (f"{_FUSED_MOE}.cpu_fused_moe", "select_experts"),
        ),
        required_params=("hidden_states", "router_logits"),
    ),
    PatchTarget(
        "MoE CPU routing (zentorch)",
        f"{_FUSED_MOE}.experts.zentorch_moe",
        "select_experts",
        wrap_selection,
        required_params=("hidden_states", "router_logits"),
    ),
]
