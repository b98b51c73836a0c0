"""Benchmark: N prompts through the full graph concurrently vs a naive one-at-a-time loop.

Both sides run the same node functions with the same trained roles and the
generation lengths of the roles file. The concurrent side runs the compiled
LangGraph graph on a thread pool (the runtime batches across prompts). The naive
side calls the nodes in a plain loop, one prompt after another, on a runtime of
its own that decodes with plain single-request `generate` (the fastest way to
run one prompt alone) and has its own feature cache. It takes an evenly spaced
subset of the same prompts (samples/bench_prompts.jsonl mixes everyday,
sensitive-but-benign, harmful and jailbreak prompts).

    .venv/bin/python scripts/bench_graph.py              # 64 prompts, naive loop on all of them
    .venv/bin/python scripts/bench_graph.py --naive-n 16 # quicker: 16 evenly spaced ones
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="prompts through the graph (default 64)")
    parser.add_argument("--spec", default="default")
    parser.add_argument("--input", default=str(PROJECT / "samples" / "bench_prompts.jsonl"),
                        help="distinct prompts (JSONL or text); --n above their number repeats them")
    parser.add_argument("--concurrency", type=int, help="prompts in flight at once (default: all of them)")
    parser.add_argument("--set", action="append", default=[], help="roles override key=value")
    parser.add_argument("--naive-n", type=int,
                        help="an evenly spaced subset of K prompts for the naive loop (default: all --n of them)")
    parser.add_argument("--max-batch", type=int, default=32,
                        help="rows per decoding step and requests per batch on the graph side (default 32)")
    parser.add_argument("--no-continuous", action="store_true",
                        help="plain batched generate instead of continuous batching (for comparison)")
    parser.add_argument("--naive-runtime", choices=("plain", "shared"), default="plain",
                        help="plain: the naive loop gets its own runtime with plain generate (default); "
                             "shared: it reuses the concurrent side's runtime (continuous decoding, warm cache)")
    args = parser.parse_args()

    from oversight.constitution import load_constitution
    from oversight.graph.context import GraphContext
    from oversight.graph.inputs import Prompt, read_prompts
    from oversight.graph.build import compile_spec
    from oversight.graph.runner import open_checkpointer, run_prompts
    from oversight.graph.sequential import run_naive
    from oversight.graph.spec import load_spec
    from oversight.roles import load_roles
    from oversight.settings import Settings
    from oversight.store import Store

    base = Settings.from_env()
    # A scratch data folder for the run's database and checkpoints; models and trained roles stay shared.
    scratch = Path(tempfile.mkdtemp(prefix="oversight-bench-"))
    settings = base.with_(home=scratch, database_url=f"sqlite:///{scratch / 'bench.db'}",
                          models_root=base.models_dir)
    spec = load_spec(args.spec, settings.project_dir)
    constitution = load_constitution(spec.constitution, settings.project_dir)
    roles_file = load_roles(spec.roles, settings.project_dir, args.set)
    texts = [p.text for p in read_prompts(Path(args.input)).prompts]
    if args.n > len(texts):
        print(f"note: {args.input} has {len(texts)} prompts; {args.n} repeats some", file=sys.stderr)
    prompts = [Prompt(f"b{i}", texts[i % len(texts)]) for i in range(args.n)]
    naive_n = min(args.naive_n or args.n, args.n)
    naive_prompts = [prompts[i * args.n // naive_n] for i in range(naive_n)]  # evenly spaced
    roles, versions, runtime = _roles(base, roles_file, constitution, not args.no_continuous, args.max_batch)
    store = Store.open(settings)
    naive_runtime = None
    concurrency = args.concurrency or args.n
    try:
        _warm(roles)
        runtime.reset_stats()  # the report describes the graph run only, not the warm-up or a bootstrap
        ctx = GraphContext(roles=roles, constitution=constitution, spec=spec, store=store,
                           run_id="bench-graph", versions=versions)
        with open_checkpointer(settings) as saver:
            graph = compile_spec(spec, checkpointer=saver)
            concurrent = run_prompts(graph, ctx, prompts, concurrency=concurrency, progress=True)
        batching = runtime.batching_report()
        naive_roles = roles
        if args.naive_runtime == "plain":
            naive_roles, _, naive_runtime = _roles(base, roles_file, constitution, continuous=False)
            _warm(naive_roles)
        naive = run_naive(GraphContext(roles=naive_roles, constitution=constitution, spec=spec, store=store,
                                       run_id="bench-naive", versions=versions), naive_prompts, progress=True)
    finally:
        runtime.close()
        if naive_runtime is not None:
            naive_runtime.close()
    rate_graph = 60 * len(prompts) / concurrent.elapsed_s
    rate_naive = 60 * len(naive_prompts) / naive.elapsed_s
    routes = {r: concurrent.count(r) for r in ("accepted", "revised", "escalated", "refused", "blocked", "error")}
    naive_routes = {r: naive.count(r) for r in routes}
    print(f"roles: {versions.get('roles', 'trained')}; spec {spec.name}; {len(prompts)} prompts "
          f"({len(set(p.text for p in prompts))} distinct, concurrency {concurrency}); naive loop "
          f"{len(naive_prompts)} of them, evenly spaced, on a {args.naive_runtime} runtime")
    print(f"routes (graph): {routes}")
    print(f"routes (naive): {naive_routes}")
    print(f"batching (graph side): {batching}")
    print(f"concurrent graph: {concurrent.elapsed_s:7.1f} s  {rate_graph:6.2f} prompts/min")
    print(f"naive loop:       {naive.elapsed_s:7.1f} s  {rate_naive:6.2f} prompts/min")
    print(f"speed-up: {rate_graph / rate_naive:.2f}x")
    return 0


def _roles(base: Any, roles_file: Any, constitution: Any, continuous: bool,
           max_batch: int = 32) -> tuple[Any, dict[str, Any], Any]:
    """The trained roles (trained once if missing)."""
    from oversight.runtime import Runtime
    from oversight.store import Store
    from oversight.train.bootstrap import build_roles

    # Trained versions live in the user's store, not in the scratch one.
    return build_roles(base, Store.open(base), roles_file, constitution, runtime=Runtime(base.models_dir,
                       continuous=continuous, max_batch=max_batch), log=lambda m: print(m, file=sys.stderr))


def _warm(roles: Any) -> None:
    """Load weights and adapters before timing either side."""
    roles.answer("Hello")


if __name__ == "__main__":
    raise SystemExit(main())
