"""Turning a thread's state into stored trajectories, preference pairs and review items.

Writes are idempotent: a trajectory is keyed by (run id, prompt id) and a
review item by thread id, so a node that re-runs (after a crash, or on resume
after an interrupt) rewrites the same rows instead of adding new ones. The run
is the thread's own (`state["run_id"]`), never the caller's, so a resume from
another process cannot write a second trajectory.
"""

from __future__ import annotations

import json
from typing import Any

from langgraph.config import get_config

from oversight.graph.context import GraphContext
from oversight.graph.delivery import band_revises
from oversight.graph.state import State, combined_rows
from oversight.graph.threads import thread_id


def run_id_of(state: State, ctx: GraphContext) -> str:
    """The thread's run; the context's only for a thread that has not recorded one yet."""
    return state.get("run_id") or ctx.run_id


def current_thread(state: State, ctx: GraphContext) -> str:
    """The LangGraph thread running this node (a server names its own), else RUN_ID:PROMPT_ID."""
    try:
        configured = get_config().get("configurable", {}).get("thread_id")
    except RuntimeError:  # outside a graph: the sequential loop
        configured = None
    return str(configured) if configured else thread_id(run_id_of(state, ctx), state["prompt_id"])


def jsonable(value: Any) -> Any:
    """Plain JSON data from records, paths and pydantic models (for extra_json)."""
    def default(obj: Any) -> Any:
        return obj.model_dump(mode="json") if hasattr(obj, "model_dump") else str(obj)
    return json.loads(json.dumps(value, default=default))


def ai_pairs(state: State, ctx: GraphContext) -> list[dict[str, Any]]:
    """Pairs the judge is confident about: revision over original, or the reverse.

    None where the graph refused or blocked (it trusted no candidate), and never the original
    as the chosen answer to a middle-band request the graph had to revise.
    """
    if (state.get("decision") or {}).get("route") in ("refused", "blocked"):
        return []
    candidates = state.get("candidates", [])
    need = ctx.spec.judge.pair_confidence
    keep_original = not band_revises(state, ctx.spec)
    pairs = []
    for b_index, row in sorted(combined_rows(state).items()):
        p = row["prob_b_better"]
        original, revision = candidates[0]["text"], candidates[b_index]["text"]
        if original == revision:
            continue
        if p >= need:
            pairs.append({"chosen": revision, "rejected": original, "probability": p})
        elif p <= 1 - need and keep_original:
            pairs.append({"chosen": original, "rejected": revision, "probability": 1 - p})
    return pairs


def human_pairs(state: State) -> list[dict[str, Any]]:
    """The reviewer's choice beats every other distinct candidate."""
    decision = state.get("decision", {})
    index = decision.get("final_index")
    candidates = state.get("candidates", [])
    human = state.get("human") or {}
    if not human or index is None or human.get("timed_out") or human.get("action") == "revise":
        return []  # a fallback refusal after a deadline, or a send-back, says nothing about preferences
    chosen = candidates[index]["text"]
    seen: set[str] = {chosen}
    pairs = []
    for cand in candidates:
        if cand["text"] not in seen:
            seen.add(cand["text"])
            pairs.append({"chosen": chosen, "rejected": cand["text"], "probability": 1.0})
    return pairs


def trajectory_record(state: State, ctx: GraphContext, *, status: str) -> Any:
    from oversight.store import CandidateRecord, CritiqueRecord, JudgmentRecord, PreferenceRecord, TrajectoryRecord

    decision = state.get("decision", {})
    pending = status == "pending_review"
    pairs: list[PreferenceRecord] = []
    if not pending:
        for source, found in (("ai", [] if state.get("human") or decision.get("route") == "escalated"
                               else ai_pairs(state, ctx)), ("human", human_pairs(state))):
            pairs += [PreferenceRecord(prompt=state["prompt"], source=source,  # type: ignore[arg-type]
                                       constitution_hash=ctx.constitution.content_hash, **p) for p in found]
    candidates = [CandidateRecord(index=c["index"], round=c["round"], text=c["text"], source=c["source"],
                                  critiques=[CritiqueRecord(**k) for k in c.get("critiques", [])])
                  for c in state.get("candidates", [])]
    extra = {"graph": ctx.spec.name, "graph_hash": ctx.spec.content_hash,
             "spec": ctx.spec.model_dump(mode="json"), "constitution": ctx.constitution.name,
             "constitution_version": ctx.constitution.version,
             "constitution_hash": ctx.constitution.content_hash, "versions": jsonable(ctx.versions),
             "decision": jsonable(decision), "rounds": state.get("round", 0),
             "human": state.get("human"),
             # Not in the candidate rows: each candidate's response score (for replaying the decision)
             # and the rewrites the leak check threw away (for reviewers; never a training target).
             "candidate_response_harmful": {str(c["index"]): c.get("response_harmful_prob")
                                            for c in state.get("candidates", []) if "response_harmful_prob" in c},
             "rejected_revisions": list(state.get("rejected_revisions", []))}
    return TrajectoryRecord(
        run_id=run_id_of(state, ctx), prompt_id=state["prompt_id"], prompt=state["prompt"],
        route="escalated" if pending else decision.get("route", "error"),
        route_reason="; ".join(decision.get("reasons", [])), status=status,  # type: ignore[arg-type]
        final_response=None if pending else state.get("final_response"),
        safety=state.get("safety") or {}, notices=list(state.get("notices", [])), extra=extra,
        candidates=candidates, judgments=[JudgmentRecord(**j) for j in state.get("judgments", [])],
        preference_pairs=pairs)


def review_payload(state: State) -> dict[str, Any]:
    """What a reviewer sees: everything internal, plus the graph's own proposal."""
    return {"prompt": state["prompt"], "candidates": state.get("candidates", []),
            "safety": state.get("safety"), "judgments": state.get("judgments", []),
            "proposal": state.get("decision", {}).get("final_index"),
            "reasons": state.get("decision", {}).get("reasons", []),
            "notices": state.get("notices", []),
            "rejected_revisions": state.get("rejected_revisions", [])}


def save_pending(state: State, ctx: GraphContext) -> dict[str, Any]:
    """Store the escalated case and queue it (both idempotent); returns the interrupt payload."""
    from oversight.store import enqueue_review, save_trajectory

    reasons = state.get("decision", {}).get("reasons", [])
    tid = current_thread(state, ctx)
    payload = {"thread_id": tid, "reasons": reasons, **review_payload(state)}
    if ctx.store is None:
        return payload
    trajectory_id = save_trajectory(ctx.store, trajectory_record(state, ctx, status="pending_review"))
    review_id = enqueue_review(ctx.store, tid, run_id_of(state, ctx), state["prompt_id"], "; ".join(reasons),
                               reasons, jsonable(review_payload(state)), trajectory_id=trajectory_id)
    return {**payload, "review_id": review_id, "trajectory_id": trajectory_id}


def save_final(state: State, ctx: GraphContext) -> int | None:
    from oversight.store import save_trajectory

    if ctx.store is None:
        return None
    return save_trajectory(ctx.store, trajectory_record(state, ctx, status="done"))
