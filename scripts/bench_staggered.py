"""Benchmark generation when requests arrive at different moments, as in the oversight graph.

N callers each run a chain: an answer, then three rounds of a feature pass over
eight principles followed by a critique from the adapter. Callers reach each
stage at different times, so a plain batched `generate` keeps starting small
batches while continuous batching lets newcomers join the running one. Both
runtimes run the same chains in the same process, one after the other, twice.

    .venv/bin/python scripts/bench_staggered.py --callers 16
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def chain(handles: tuple[Any, Any], i: int) -> int:
    """One caller's work; returns the tokens it generated."""
    from oversight.roles import GenerationConfig
    from oversight.runtime import as_chat

    bare, tuned = handles
    out = bare.generate([as_chat(f"Tell me about topic {i}: the history of science, briefly.")],
                        GenerationConfig(max_new_tokens=64))[0]
    tokens = out.new_tokens
    for k in range(3):
        bare.features([as_chat(f"Principle {j}: be honest. Request: topic {i}. Response: {out.text}")
                       for j in range(8)], (-12, -8), "last")
        out = tuned.generate([as_chat(f"Principle: be safe. Request: topic {i}. Draft: {out.text}\n"
                                      f"Write a short critique ({k}).")], GenerationConfig(max_new_tokens=48))[0]
        tokens += out.new_tokens
    return tokens


def _warm(handles: tuple[Any, Any]) -> None:
    """Load weights and adapters before timing (the batching report then covers the timed chains)."""
    from oversight.roles import GenerationConfig
    from oversight.runtime import as_chat

    for handle in handles:
        handle.generate([as_chat("warm up")], GenerationConfig(max_new_tokens=2))
    handles[0].features([as_chat("warm up")], (-12, -8), "last")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from oversight.roles import load_roles
    from oversight.runtime import Runtime
    from oversight.settings import Settings
    from oversight.store import Store
    from oversight.train.bootstrap import resolve_versions

    settings = Settings.from_env()
    roles = load_roles("default", settings.project_dir, [f"models.smollm2.dtype={args.dtype}"])
    adapter = resolve_versions(Store.open(settings), roles).get("reviser")
    if adapter is None or adapter.adapter is None:
        print("no trained reviser adapter: run `python -m oversight.run train --role reviser` first", file=sys.stderr)
        return 2
    model = roles.model_for("base")
    for _ in range(args.repeats):
        for continuous in (False, True):
            runtime = Runtime(settings.models_dir, continuous=continuous)
            handles = (runtime.handle(model), runtime.handle(model, adapter.adapter))
            _warm(handles)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.callers) as pool:
                tokens = sum(pool.map(lambda i: chain(handles, i), range(args.callers)))
            elapsed = time.perf_counter() - start
            name = "continuous batching" if continuous else "plain batched generate"
            print(f"{name:23s}: {elapsed:6.1f} s, {tokens / elapsed:6.1f} tokens/s ({tokens} tokens)")
            print(f"  {runtime.batching_report()}")
            runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
