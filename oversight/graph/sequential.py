"""The naive loop: the same nodes along the same edges, one prompt after another.

This is the baseline the benchmark compares the concurrent graph with: no
LangGraph, no checkpoints, no batching partner. It walks `edges.graph_edges`,
the declaration the compiled graph is built from. A prompt escalated for review
is stored and queued, then left (there is nothing to wait on here).
"""

from __future__ import annotations

import time
from typing import Any

from oversight.graph.context import GraphContext
from oversight.graph.edges import ENTRY, FINISH, graph_edges
from oversight.graph.inputs import Prompt
from oversight.graph.nodes import NODES
from oversight.graph.persist import save_pending
from oversight.graph.results import PromptResult, RunReport, result_from_state
from oversight.graph.runner import start_run


def run_sequential(ctx: GraphContext, prompt: Prompt) -> PromptResult:
    """One prompt through the spec's nodes in a plain loop."""
    edges = graph_edges(ctx.spec)
    state: dict[str, Any] = {"prompt_id": prompt.id, "prompt": prompt.text, "run_id": ctx.run_id}
    step: str = ENTRY
    while step != FINISH:
        if step == "escalate" and ctx.reviewed:
            save_pending(state, ctx)  # type: ignore[arg-type]
            return result_from_state(prompt, state, "pending_review")
        state.update(NODES[step](state, ctx))  # type: ignore[arg-type]
        step = edges[step].next(state)  # type: ignore[arg-type]
    return result_from_state(prompt, state, "done")


def run_naive(ctx: GraphContext, prompts: list[Prompt], *, progress: bool = False) -> RunReport:
    """Every prompt through `run_sequential`, one at a time: the baseline for the benchmark."""
    from tqdm import tqdm

    start_run(ctx)
    start = time.perf_counter()
    results = [run_sequential(ctx, p) for p in tqdm(prompts, disable=not progress, desc="naive", unit="prompt")]
    return RunReport(ctx.run_id, results, time.perf_counter() - start)
