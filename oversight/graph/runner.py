"""Running many prompts through a compiled graph: concurrently, resumably, with progress.

Each prompt is one LangGraph thread (`RUN_ID:PROMPT_ID`) in a thread pool, so
the model runtime batches calls across prompts. A rerun with the same run id
skips prompts whose trajectory is stored, continues threads that a killed
process left mid-way (from their last checkpoint), leaves threads waiting for a
human alone, and retries prompts that failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oversight.errors import OversightError
from oversight.graph.context import GraphContext
from oversight.graph.human import check_decision
from oversight.graph.inputs import Prompt
from oversight.graph.persist import jsonable, save_pending, thread_id

if TYPE_CHECKING:
    from oversight.settings import Settings


@dataclass
class PromptResult:
    """One prompt's outcome; `reasoning` is internal and shown only on request."""

    prompt_id: str
    prompt: str
    status: str  # done | pending_review | error | skipped
    route: str
    final_response: str | None
    reasons: list[str] = field(default_factory=list)
    judge_confidence: float | None = None
    notices: list[str] = field(default_factory=list)
    reasoning: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def visible(self) -> dict[str, Any]:
        return {"id": self.prompt_id, "prompt": self.prompt, "response": self.final_response,
                "route": self.route, "status": self.status, "notices": self.notices}

    def full(self) -> dict[str, Any]:
        return {**self.visible(), "reasons": self.reasons, "judge_confidence": self.judge_confidence,
                "reasoning": self.reasoning, "error": self.error}


@dataclass
class RunReport:
    run_id: str
    results: list[PromptResult]
    elapsed_s: float
    generated_tokens: int | None = None

    def count(self, *routes: str) -> int:
        return sum(1 for r in self.results if r.route in routes)

    @property
    def mean_judge_confidence(self) -> float | None:
        values = [r.judge_confidence for r in self.results if r.judge_confidence is not None]
        return sum(values) / len(values) if values else None


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[Any]:
    """SQLite beside the data folder by default; PostgreSQL when the database URL is one."""
    url = settings.database_url
    if url.startswith(("postgresql", "postgres")):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise OversightError(f"PostgreSQL checkpoints need pip install 'oversight[postgres]' ({exc})") from exc
        from sqlalchemy.engine import make_url

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with ConnectionPool(conninfo, max_size=16, kwargs={
                "autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}) as pool:
            saver = PostgresSaver(pool)  # type: ignore[arg-type]
            saver.setup()
            yield saver
        return
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.ensure_home()
    conn = sqlite3.connect(str(settings.checkpoint_path), check_same_thread=False, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def start_run(ctx: GraphContext) -> str:
    """Register the run (or check a reused id matches its graph and constitution)."""
    from oversight.store import ensure_run

    if ctx.store is None:
        return ctx.run_id
    return ensure_run(ctx.store, ctx.run_id, graph_name=ctx.spec.name, graph_hash=ctx.spec.content_hash,
                      constitution_name=ctx.constitution.name,
                      constitution_hash=ctx.constitution.content_hash, roles=jsonable(ctx.versions))


def result_from_state(prompt: Prompt, values: dict[str, Any], status: str) -> PromptResult:
    decision = values.get("decision", {})
    return PromptResult(
        prompt_id=prompt.id, prompt=prompt.text, status=status,
        route="escalated" if status == "pending_review" else decision.get("route", "error"),
        final_response=None if status == "pending_review" else values.get("final_response"),
        reasons=list(decision.get("reasons", [])), judge_confidence=decision.get("judge_confidence"),
        notices=list(values.get("notices", [])),
        reasoning={k: values.get(k) for k in ("candidates", "safety", "judgments", "human") if values.get(k)})


def run_one(graph: Any, ctx: GraphContext, prompt: Prompt) -> PromptResult:
    """Start, continue or report one prompt's thread."""
    config = {"configurable": {"thread_id": thread_id(ctx.run_id, prompt.id)}}
    snapshot = graph.get_state(config)
    if snapshot.values and snapshot.next:
        if snapshot.interrupts:
            return result_from_state(prompt, snapshot.values, "pending_review")
        values = graph.invoke(None, config, context=ctx)  # a killed run left it mid-way
    else:
        values = graph.invoke({"prompt_id": prompt.id, "prompt": prompt.text}, config, context=ctx)
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
    return PromptResult(prompt.id, prompt.text, "skipped",
                        "escalated" if stored.status == "pending_review" else stored.route,
                        stored.final_response, reasons=list(decision.get("reasons", [])),
                        judge_confidence=decision.get("judge_confidence"), notices=list(stored.notices_json))


def run_prompts(graph: Any, ctx: GraphContext, prompts: list[Prompt], *, concurrency: int = 32,
                progress: bool = False) -> RunReport:
    """Run every prompt (skipping finished ones of this run id) on `concurrency` threads."""
    from tqdm import tqdm

    from oversight.store import finished_prompt_ids

    start_run(ctx)
    done = finished_prompt_ids(ctx.store, ctx.run_id, retry_errors=True) if ctx.store else set()
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
        from oversight.store import set_run_status

        set_run_status(ctx.store, ctx.run_id, "finished" if all(
            r.status in ("done", "skipped") for r in results.values()) else "waiting")
    return RunReport(ctx.run_id, [results[p.id] for p in prompts], elapsed, tokens)


def resume(graph: Any, ctx: GraphContext, thread: str, decision: dict[str, Any]) -> PromptResult:
    """Feed a human decision to a paused thread and let it finish (the review side calls this)."""
    from langgraph.types import Command

    from oversight.store import get_review_by_thread, get_run, mark_applied, record_decision

    config = {"configurable": {"thread_id": thread}}
    snapshot = graph.get_state(config)
    if not snapshot.values:
        raise OversightError(f"no graph thread {thread!r} in the checkpoints")
    if not snapshot.interrupts:
        raise OversightError(f"thread {thread!r} is not waiting for a decision")
    if ctx.store is not None:
        run = get_run(ctx.store, ctx.run_id)
        if run is not None and run.graph_hash != ctx.spec.content_hash:
            raise OversightError(f"thread {thread!r} ran under another graph spec ({run.graph_name}); "
                                 "resume it with the same spec")
    decision = check_decision(snapshot.values, decision)
    values = graph.invoke(Command(resume=decision), config, context=ctx)
    if ctx.store is not None:
        item = get_review_by_thread(ctx.store, thread)
        if item is not None:
            if item.status == "pending":
                record_decision(ctx.store, item.id, decision, decision.get("reviewer") or "unknown")
            mark_applied(ctx.store, item.id)
    prompt = Prompt(snapshot.values["prompt_id"], snapshot.values["prompt"])
    return result_from_state(prompt, values, "pending_review" if values.get("__interrupt__") else "done")


def run_naive(ctx: GraphContext, prompts: list[Prompt], *, progress: bool = False) -> RunReport:
    """Every prompt through `run_sequential`, one at a time: the baseline for the benchmark."""
    from tqdm import tqdm

    start_run(ctx)
    start = time.perf_counter()
    results = [run_sequential(ctx, p) for p in tqdm(prompts, disable=not progress, desc="naive", unit="prompt")]
    return RunReport(ctx.run_id, results, time.perf_counter() - start)


def run_sequential(ctx: GraphContext, prompt: Prompt) -> PromptResult:
    """The same node functions, one after another, no graph and no batching partner.

    This is the naive loop the benchmark compares the concurrent graph with;
    an escalated prompt is stored and queued, then left (nothing to wait on).
    """
    from oversight.graph import nodes, routing

    spec = ctx.spec
    state: dict[str, Any] = {"prompt_id": prompt.id, "prompt": prompt.text}
    step = "base"
    edges = {"base": routing.after_base(spec), "safety": routing.after_safety(spec),
             "critic": routing.after_critic(spec)}
    while True:
        state.update(nodes.NODES[step](state, ctx))  # type: ignore[arg-type]
        if step in edges:
            step = edges[step](state)  # type: ignore[arg-type]
        elif step in ("revise",):
            step = "critic"
        elif step == "judge":
            step = "route"
        elif step == "route":
            if routing.after_route(state) == "escalate":  # type: ignore[arg-type]
                save_pending(state, ctx)  # type: ignore[arg-type]
                return result_from_state(prompt, state, "pending_review")
            step = "persist"
        else:
            return result_from_state(prompt, state, "done")
