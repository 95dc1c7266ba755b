#!/usr/bin/env python3
"""ProfileMate's bundled example: a real vLLM generation on the CPU, small enough for a laptop.

A tiny model with random weights (load_format="dummy"; its config.json is next to this file, so
nothing is downloaded) serves a few dozen requests through vLLM's offline LLM API, with the engine
core in its own process as in a server. The KV cache is kept small on purpose: the run preempts
and evicts, so every file ProfileMate writes has something in it.

    profilemate profile -o session -- python examples/tiny_vllm/generate.py --model moe
    profilemate stats session

Needs vLLM's CPU build (scripts/real_vllm_env.sh --cpu makes an environment with it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def make_llm(model: str, executor: str | None = None) -> Any:
    """The example's engine: `model` is "dense" or "moe" (a directory next to this file); `executor`
    is vLLM's distributed_executor_backend ("mp", "ray", "uni"), None for vLLM's choice."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # the summary, not vLLM's start-up log
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM

    return LLM(
        model=str(HERE / model),
        load_format="dummy",
        skip_tokenizer_init=True,
        enforce_eager=True,
        dtype="float32",
        max_model_len=512,
        max_num_seqs=8,
        max_num_batched_tokens=256,
        block_size=32,
        num_gpu_blocks_override=24,
        enable_prefix_caching=True,
        seed=0,
        **({"distributed_executor_backend": executor} if executor else {}),
    )


def prompts(requests: int) -> list[dict[str, list[int]]]:
    shared = [(k * 11) % 500 + 3 for k in range(96)]  # a common system prompt: prefix-cache hits
    return [
        {"prompt_token_ids": shared + [(i * 13 + k) % 500 + 3 for k in range(8 + (i * 7) % 120)]}
        for i in range(requests)
    ]


def generate(llm: Any, requests: int, max_tokens: int) -> list[Any]:
    """Greedy generation of `max_tokens` tokens for each of `requests` prompts."""
    from vllm import SamplingParams

    return llm.generate(
        prompts(requests), SamplingParams(max_tokens=max_tokens, ignore_eos=True, temperature=0.0), use_tqdm=False
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        choices=["dense", "moe"],
        default="moe",
        help="a 2-layer Llama, or a 2-layer Mixtral with 4 experts (default)",
    )
    parser.add_argument("--requests", type=int, default=32, help="requests to serve (default 32)")
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens to generate per request (default 48)")
    parser.add_argument(
        "--executor",
        choices=["mp", "ray", "uni"],
        help="vLLM's executor backend (default: vLLM's choice; ray needs a GPU build of vLLM)",
    )
    args = parser.parse_args()
    outputs = generate(make_llm(args.model, args.executor), args.requests, args.max_tokens)
    print(f"generated {sum(len(o.outputs[0].token_ids) for o in outputs)} tokens for {len(outputs)} requests")


if __name__ == "__main__":
    main()
