"""Feeding a human decision to a paused thread, from any process (the review side calls this).

The thread's own run decides where everything goes: the caller's context
supplies the roles, constitution, spec and store, and its run id is replaced by
the thread's. The thread lease keeps a rerun of the run from continuing the
same thread at the same moment.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oversight.errors import OversightError
from oversight.graph.checkpoints import retire_thread
from oversight.graph.context import GraphContext
from oversight.graph.human import check_decision
from oversight.graph.inputs import Prompt
from oversight.graph.results import PromptResult, result_from_state
from oversight.graph.threads import hold_lease, run_of, thread_lease


def thread_context(graph: Any, ctx: GraphContext, thread: str) -> tuple[GraphContext, Any]:
    """The context bound to the thread's run (and its kind), and the thread's snapshot."""
    from oversight.store import get_run, get_trajectory

    snapshot = graph.get_state({"configurable": {"thread_id": thread}})
    if not snapshot.values:
        run_id, _, prompt_id = thread.partition(":")
        stored = get_trajectory(ctx.store, run_id, prompt_id) if ctx.store and prompt_id else None
        if stored is not None and stored.status == "done":
            raise OversightError(f"thread {thread!r} is not waiting for a decision: its trajectory is final "
                                 f"(route {stored.route})")
        raise OversightError(f"no graph thread {thread!r} in the checkpoints")
    run_id = run_of(thread, snapshot.values)
    if ctx.store is None:
        return dataclasses.replace(ctx, run_id=run_id), snapshot
    run = get_run(ctx.store, run_id)
    if run is None:
        raise OversightError(f"thread {thread!r} belongs to run {run_id!r}, which this store does not know")
    if run.graph_hash != ctx.spec.content_hash:
        raise OversightError(f"thread {thread!r} ran under another graph spec ({run.graph_name}); "
                             "resume it with the same spec")
    return dataclasses.replace(ctx, run_id=run_id, run_kind=run.kind), snapshot


def resume(graph: Any, ctx: GraphContext, thread: str, decision: dict[str, Any]) -> PromptResult:
    """Apply `decision` to the paused `thread` and let it finish; ctx.run_id is ignored.

    Raises OversightError when the thread is unknown, not waiting, ran under
    another spec, the decision does not fit it, or another process holds it
    (LeaseHeld: try again once that process is done).
    """
    ctx, _ = thread_context(graph, ctx, thread)
    if ctx.store is None:
        return _resume(graph, ctx, thread, decision)
    with hold_lease(ctx.store, thread_lease(thread), f"graph thread {thread!r}"):
        return _resume(graph, ctx, thread, decision)


def _resume(graph: Any, ctx: GraphContext, thread: str, decision: dict[str, Any]) -> PromptResult:
    from langgraph.types import Command

    from oversight.store import get_review_by_thread, mark_applied, record_decision

    config = {"configurable": {"thread_id": thread}}
    snapshot = graph.get_state(config)  # again, now that the thread is ours
    if not snapshot.interrupts:
        raise OversightError(f"thread {thread!r} is not waiting for a decision")
    decision = check_decision(snapshot.values, decision, ctx.spec)
    values = graph.invoke(Command(resume=decision), config, context=ctx)
    finished = not values.get("__interrupt__")
    if ctx.store is not None:
        item = get_review_by_thread(ctx.store, thread)
        if item is not None:
            if item.status == "pending":
                record_decision(ctx.store, item.id, decision, decision.get("reviewer") or "unknown")
            mark_applied(ctx.store, item.id)
        if finished:
            retire_thread(graph.checkpointer, thread, ctx.spec.checkpoints)
    prompt = Prompt(snapshot.values["prompt_id"], snapshot.values["prompt"])
    return result_from_state(prompt, values, "done" if finished else "pending_review")
