#!/usr/bin/env python3
"""Checks the session of the bundled example run with vLLM's Ray executor under `profilemate profile`.

    check_ray_session.py SESSION_DIR TOKENS

SESSION_DIR holds the session and its export (profile exports in place); TOKENS is how many
tokens the example said it generated. Checks that the model ran in a process of its own that
recorded into the driver's session (a Ray actor, which gets only vLLM's VLLM_ variables), with
one forward pass per busy step, and that the MoE hooks counted the top-2 experts of every
forwarded token. Prints one line, "Ray executor: PASS ..." or "Ray executor: FAIL ...", and exits
0 or 1. Standard library only.
"""

import csv
import json
import sys
from collections import Counter
from pathlib import Path


def rows(session: Path, name: str) -> list[dict[str, str]]:
    with open(session / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def problems(session: Path, tokens: int) -> tuple[list[str], str]:
    processes = json.loads((session / "metadata.json").read_text(encoding="utf-8"))["processes"]
    driver = next((p for p in processes if "generate.py" in str(p.get("command_line", ""))), None)
    passes = rows(session, "forward_pass_timing.csv")
    model_pids = {r["pid"] for r in passes}
    found: list[str] = []
    if driver is None:
        found.append("the driver (generate.py) recorded nothing")
    if not passes:
        found.append("no forward pass was recorded: the Ray worker did not record into this session")
    elif driver is not None and str(driver["pid"]) in model_pids:
        found.append("the forward passes are the driver's: the model did not run in a Ray actor")
    forwarded = sum(int(r["num_tokens"]) for r in passes)
    steps = rows(session, "batch_utilization.csv")
    if len(passes) != sum(1 for s in steps if s["num_tokens"] != "0"):
        found.append(f"{len(passes)} forward passes for {len(steps)} steps: not one per busy step")
    per_layer = Counter()
    for r in rows(session, "moe_expert_selection.csv"):
        per_layer[r["layer_idx"]] += int(r["activation_count"])
    if not per_layer or set(per_layer.values()) != {2 * forwarded}:
        found.append(f"MoE selections per layer {dict(per_layer)}, not top-2 of {forwarded} forwarded tokens")
    roles = sorted({p["process_role"] or "?" for p in processes if str(p["pid"]) in model_pids})
    summary = f"{len(processes)} processes, the model in pid {', '.join(sorted(model_pids))} ({', '.join(roles)})"
    if tokens <= 0:
        found.append("the example generated no token")
    return found, summary


def main() -> int:
    session, tokens = Path(sys.argv[1]), int(sys.argv[2])
    try:
        found, summary = problems(session, tokens)
    except (OSError, KeyError, ValueError) as error:
        print(f"Ray executor: FAIL: the session cannot be read ({type(error).__name__}: {error})")
        return 1
    if found:
        print(f"Ray executor: FAIL: {'; '.join(found)} [{summary}]")
        return 1
    print(f"Ray executor: PASS: {summary}, {tokens} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
