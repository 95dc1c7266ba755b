"""Stand-in for vllm/v1/engine/core.py: the engine core's shutdown."""


class EngineCore:
    def shutdown(self) -> None:
        return None
