"""A stand-in for the part of PyTorch that graph_workload.py uses, for running its logic without a
GPU (tests/gpu/test_gpu_check.py). Nothing is computed: each capture counts its replays, and at
exit the counts, in capture order, go to the file named by STANDIN_TORCH_COUNTS."""

import atexit
import contextlib
import json
import os
import threading

__version__ = "0.0.0+standin"
_captures = []  # one replay counter per capture, in capture order
_lock = threading.Lock()


class version:
    cuda = "13.0"


class _Tensor:
    def argmax(self, dim):
        return self

    def cpu(self):
        return self

    def mul_(self, factor):
        return self


def randn(*shape, device=None, dtype=None):
    return _Tensor()


def ones(*shape, device=None):
    return _Tensor()


half = "half"


@contextlib.contextmanager
def no_grad():
    yield


def manual_seed(seed):
    pass


class _Module:
    def __init__(self, *parts):
        self.parts = parts

    def cuda(self):
        return self

    def half(self):
        return self

    def __call__(self, x):
        return _Tensor()


class nn:
    Linear = GELU = Sequential = _Module


class _Stream:
    cuda_stream = 0

    def wait_stream(self, other):
        pass

    def synchronize(self):
        pass


class _Event:
    def __init__(self, enable_timing=False):
        self.recorded = False

    def record(self):
        self.recorded = True

    def synchronize(self):
        pass

    def elapsed_time(self, end):
        assert self.recorded and end.recorded, "elapsed_time between events not both recorded"
        return 0.05


class _Graph:
    """Each capture is another executable graph, with its own replay count."""

    def __init__(self):
        self.replays = None

    def replay(self):
        assert self.replays is not None, "replay of a graph not captured"
        with _lock:
            self.replays[0] += 1

    def reset(self):
        self.replays = None

    def raw_cuda_graph_exec(self):
        return 1


class cuda:
    Stream = _Stream
    Event = _Event
    CUDAGraph = _Graph

    @staticmethod
    def is_available():
        return True

    @staticmethod
    def init():
        pass

    @staticmethod
    def get_device_name():
        return "stand-in"

    @staticmethod
    def synchronize():
        pass

    @staticmethod
    def _sleep(cycles):
        pass

    @staticmethod
    def current_stream():
        return _Stream()

    @staticmethod
    @contextlib.contextmanager
    def stream(stream):
        yield

    @staticmethod
    @contextlib.contextmanager
    def graph(graph, capture_error_mode="global"):
        assert capture_error_mode in ("global", "thread_local", "relaxed"), capture_error_mode
        assert graph.replays is None, "a graph captured twice without reset"
        yield
        graph.replays = [0]
        with _lock:
            _captures.append(graph.replays)


@atexit.register
def _write_counts():
    if os.environ.get("STANDIN_TORCH_COUNTS"):
        with open(os.environ["STANDIN_TORCH_COUNTS"], "w", encoding="utf-8") as out:
            json.dump([count for (count,) in _captures], out)
