"""Running many prompts through a compiled graph: concurrently, resumably, with progress.

Each prompt is one LangGraph thread (`RUN_ID:PROMPT_ID`) in a thread pool, so
the model runtime batches calls across prompts. A rerun with the same run id
skips prompts whose trajectory is final, continues threads that a killed
process left mid-way (from their last checkpoint, also one stored as escalated
just before its pause was checkpointed), leaves threads waiting for a human
alone, and retries prompts that failed. One process at a time works a run (the
run lease) and one worker at a time a thread (the thread lease, which a
reviewer's `resume` takes too). Finished threads lose their checkpoints by the
spec's retention policy.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from typing import Any

from oversight.graph.checkpoints import open_checkpointer, retire_thread
from oversight.graph.context import GraphContext
from oversight.graph.inputs import Prompt
from oversight.graph.persist import jsonable
from oversight.graph.results import PromptResult, RunReport, result_from_state
from oversight.graph.resume import resume
from oversight.graph.threads import hold_lease, run_lease, thread_id, thread_lease

__all__ = ["PromptResult", "RunReport", "open_checkpointer", "resume", "run_one", "run_prompts", "start_run"]


def start_run(ctx: GraphContext) -> str:
    """Register the run (or check a reused id matches its graph, constitution and kind)."""
    from oversight.store import ensure_run

    if ctx.store is None:
        return ctx.run_id
    return ensure_run(ctx.store, ctx.run_id, graph_name=ctx.spec.name, graph_hash=ctx.spec.content_hash,
                      constitution_name=ctx.constitution.name,
                      constitution_hash=ctx.constitution.content_hash, roles=jsonable(ctx.versions),
                      kind=ctx.run_kind)


def run_one(graph: Any, ctx: GraphContext, prompt: Prompt) -> PromptResult:
    """Start, continue or report one prompt's thread, holding its lease while it runs."""
    thread = thread_id(ctx.run_id, prompt.id)
    if ctx.store is None:
        return _advance(graph, ctx, prompt, thread)
    from oversight.store.leases import LeaseHeld

    with ExitStack() as stack:
        try:
            stack.enter_context(hold_lease(ctx.store, thread_lease(thread), f"graph thread {thread!r}"))
        except LeaseHeld as exc:  # a reviewer is resuming this thread right now: theirs to finish
            return PromptResult(prompt.id, prompt.text, "pending_review", "escalated", None,
                                notices=[f"left alone this time: {exc}"])
        result = _advance(graph, ctx, prompt, thread)
        if result.status == "done":
            retire_thread(graph.checkpointer, thread, ctx.spec.checkpoints)
        return result


def _advance(graph: Any, ctx: GraphContext, prompt: Prompt, thread: str) -> PromptResult:
    config = {"configurable": {"thread_id": thread}}
    snapshot = graph.get_state(config)
    if snapshot.values and snapshot.next:
        if snapshot.interrupts:
            return result_from_state(prompt, snapshot.values, "pending_review")
        values = graph.invoke(None, config, context=ctx)  # a killed run left it mid-way
    else:
        values = graph.invoke({"prompt_id": prompt.id, "prompt": prompt.text, "run_id": ctx.run_id},
                              config, context=ctx)
    pending = bool(values.get("__interrupt__"))
    return result_from_state(prompt, values, "pending_review" if pending else "done")


def _failed(ctx: GraphContext, prompt: Prompt, exc: BaseException) -> PromptResult:
    """Record the failure so the run's summary shows it; a rerun retries the prompt."""
    message = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if ctx.store is not None:
        from oversight.store import TrajectoryRecord, save_trajectory

        save_trajectory(ctx.store, TrajectoryRecord(
            run_id=ctx.run_id, prompt_id=prompt.id, prompt=prompt.text, route="error",
            route_reason=message, status="done", notices=[message],
            extra={"graph": ctx.spec.name, "graph_hash": ctx.spec.content_hash}))
    return PromptResult(prompt.id, prompt.text, "error", "error", None, error=message, notices=[message])


def _skipped(ctx: GraphContext, prompt: Prompt) -> PromptResult:
    from oversight.store import get_trajectory

    stored = get_trajectory(ctx.store, ctx.run_id, prompt.id) if ctx.store else None
    if stored is None:
        return PromptResult(prompt.id, prompt.text, "skipped", "error", None)
    decision = stored.extra_json.get("decision") or {}
    return PromptResult(prompt.id, prompt.text, "skipped", stored.route, stored.final_response,
                        reasons=list(decision.get("reasons", [])),
                        judge_confidence=decision.get("judge_confidence"), notices=list(stored.notices_json))


def run_prompts(graph: Any, ctx: GraphContext, prompts: list[Prompt], *, concurrency: int = 32,
                progress: bool = False) -> RunReport:
    """Run every prompt (skipping finished ones of this run id) on `concurrency` threads.

    Raises OversightError naming the holder when another process is working on the same run id.
    """
    if ctx.store is None:
        return _run_prompts(graph, ctx, prompts, concurrency, progress)
    from oversight.errors import OversightError
    from oversight.store.leases import LeaseHeld

    with ExitStack() as stack:
        try:
            stack.enter_context(hold_lease(ctx.store, run_lease(ctx.run_id), f"run {ctx.run_id!r}"))
        except LeaseHeld as held:
            raise OversightError(
                f"run {ctx.run_id!r} is already running in another process ({held.holder}, lease until "
                f"{held.expires_at:%H:%M:%S} UTC); wait for it to finish or choose another --run-id") from None
        return _run_prompts(graph, ctx, prompts, concurrency, progress)


def _run_prompts(graph: Any, ctx: GraphContext, prompts: list[Prompt], concurrency: int,
                 progress: bool) -> RunReport:
    from tqdm import tqdm

    from oversight.store import finished_prompt_ids, set_run_status

    start_run(ctx)
    done = finished_prompt_ids(ctx.store, ctx.run_id, retry_errors=True, statuses=("done",)) if ctx.store else set()
    tokens_before = getattr(ctx.roles, "generated_tokens", None)
    start = time.perf_counter()
    results: dict[str, PromptResult] = {p.id: _skipped(ctx, p) for p in prompts if p.id in done}
    todo = [p for p in prompts if p.id not in done]

    def work(prompt: Prompt) -> PromptResult:
        try:
            return run_one(graph, ctx, prompt)
        except Exception as exc:  # noqa: BLE001 - one bad prompt (user error or bug) must not sink the run
            return _failed(ctx, prompt, exc)

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo) or 1)),
                            thread_name_prefix="oversight-prompt") as pool, \
            tqdm(total=len(todo), disable=not progress, desc="prompts", unit="prompt") as bar:
        futures = {pool.submit(work, p): p for p in todo}
        for future in as_completed(futures):
            result = future.result()
            results[result.prompt_id] = result
            bar.update(1)
    elapsed = time.perf_counter() - start
    tokens_after = getattr(ctx.roles, "generated_tokens", None)
    tokens = tokens_after - tokens_before if tokens_before is not None and tokens_after is not None else None
    if ctx.store is not None:
        set_run_status(ctx.store, ctx.run_id, "finished" if all(
            r.status in ("done", "skipped") for r in results.values()) else "waiting")
    return RunReport(ctx.run_id, [results[p.id] for p in prompts], elapsed, tokens)
