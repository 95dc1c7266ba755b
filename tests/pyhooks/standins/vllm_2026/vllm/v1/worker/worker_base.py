"""Stand-in for vllm/v1/worker/worker_base.py: the wrapper every executor shuts its worker down
through."""


class WorkerWrapperBase:
    def __init__(self) -> None:
        self.worker = None

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.shutdown()
