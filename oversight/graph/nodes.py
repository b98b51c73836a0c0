"""One function per node: (state, context) -> the state keys it changes.

Nodes are written against `GraphContext`, not LangGraph, so the same functions
run inside the compiled graph and in the plain one-prompt-at-a-time loop the
benchmark compares it with. Everything a node writes outside the state (the
store, the review queue) is idempotent, because LangGraph re-runs a node from
its start when a thread resumes.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

from oversight.constitution import Constitution
from oversight.graph.context import GraphContext
from oversight.graph.decision import decide
from oversight.graph.delivery import band_principle, band_revises, reasks
from oversight.graph.human import apply_decision
from oversight.graph.leaks import RETRY_NOTE, check_revision
from oversight.graph.persist import save_final, save_pending
from oversight.graph.state import State, violated


def base(state: State, ctx: GraphContext) -> dict[str, Any]:
    """The base answer; also fixes the thread's run (from the context when the input names none)."""
    text, notices = ctx.roles.answer(state["prompt"])
    return {"candidates": [{"index": 0, "round": 0, "text": text, "source": "base"}],
            "notices": [*state.get("notices", []), *notices], "round": 0,
            "run_id": state.get("run_id") or ctx.run_id}


def safety(state: State, ctx: GraphContext) -> dict[str, Any]:
    candidates = state.get("candidates", [])
    verdict = ctx.roles.assess_safety(state["prompt"], candidates[0]["text"] if candidates else None)
    return {"safety": {**verdict.model_dump(), "top_category": verdict.top_category,
                       "top_attack": verdict.top_attack}}


def critic(state: State, ctx: GraphContext) -> dict[str, Any]:
    """Verdicts on every checked principle for the newest candidate; critiques for the worst few."""
    candidates = [dict(c) for c in state["candidates"]]
    latest = candidates[-1]
    principles = ctx.critic_principles()
    verdicts = ctx.roles.check_principles(state["prompt"], latest["text"], principles)
    threshold = ctx.spec.critic.violation_threshold
    by_id = {p.id: p for p in principles}
    flagged = sorted((v for v in verdicts if v.violation_prob >= threshold),
                     key=lambda v: (by_id[v.principle_id].priority, -v.violation_prob))
    to_write = {v.principle_id for v in flagged[: ctx.spec.critic.max_critiques]}
    critiques = []
    for v in verdicts:
        text = v.critique
        if v.principle_id in to_write and not text:
            text = ctx.roles.write_critique(state["prompt"], latest["text"], by_id[v.principle_id])
        critiques.append({"principle_id": v.principle_id, "violation_prob": float(v.violation_prob),
                          "violated": v.violation_prob >= threshold,
                          "text": text if v.principle_id in to_write else None})
    latest["critiques"] = critiques
    latest["response_harmful_prob"] = _response_harm(state, latest, ctx)
    return {"candidates": candidates}


def _response_harm(state: State, candidate: dict[str, Any], ctx: GraphContext) -> float | None:
    """The safety model's response score of a candidate; the base answer's is the safety node's own."""
    if not ctx.spec.has("safety"):
        return None
    if candidate["index"] == 0:
        return (state.get("safety") or {}).get("response_harmful_prob")
    return ctx.roles.rate_responses(state["prompt"], [candidate["text"]])[0]


def revise(state: State, ctx: GraphContext) -> dict[str, Any]:
    """A rewrite of the newest candidate from the critic's critiques, or from a reviewer's note.

    A reviewer who sends a thread back (decision `revise`) is the critic this time: the note is
    the critique, against the principles the reviewer marked (else those the critic flagged, else
    helpfulness), and the graph's proposal (else the newest candidate) is what gets rewritten.
    A middle-band request adds the spec's safety critique, even when the critic found nothing. An
    original that only declines a benign request is not rewritten but answered again (`_reask`).
    A rewrite that fails the leak check (`leaks.check_revision`) is recorded in
    `rejected_revisions` and does not become a candidate; a later round tries again.
    """
    candidates = state["candidates"]
    human = state.get("human") or {}
    update: dict[str, Any] = {}
    if human.get("action") == "revise":
        proposal = (state.get("decision") or {}).get("final_index")
        draft = candidates[proposal if proposal is not None else -1]
        pairs = [(p, human["note"].strip()) for p in _marked_principles(human, draft, ctx)]
        # Consumed: the thread's next escalation asks the reviewer afresh.
        update = {"human": {}, "human_notes": [*state.get("human_notes", []), dict(human)]}
        by = "human"
    else:
        if reasks(state, ctx.spec):
            return _reask(state, ctx)
        draft = candidates[-1]
        pairs = [(ctx.constitution.principle(c["principle_id"]), c["text"])
                 for c in violated(draft) if c.get("text")]
        if band_revises(state, ctx.spec):
            pairs.append((band_principle(state, ctx.constitution, ctx.spec), ctx.spec.safety.middle_band_critique))
        if any(r["draft_index"] == draft["index"] for r in state.get("rejected_revisions", [])):
            pairs = [(p, f"{text} {RETRY_NOTE}") for p, text in pairs]
        by = "critic"
    text = ctx.roles.revise(state["prompt"], draft["text"], pairs)
    return _new_candidate(state, ctx, text, draft, pairs, by=by, source="reviser", update=update)


def _reask(state: State, ctx: GraphContext) -> dict[str, Any]:
    """The base model's second answer under `revision.reask_system_prompt`, as candidate 1 (source base);
    rejected like a rewrite when it repeats the original or carries principle text."""
    text, _ = ctx.roles.answer(state["prompt"], ctx.spec.revision.reask_system_prompt)
    return _new_candidate(state, ctx, text, state["candidates"][0], [], by="base", source="base")


def _new_candidate(state: State, ctx: GraphContext, text: str, draft: dict[str, Any], critiques: list[Any], *,
                   by: str, source: str, update: dict[str, Any] | None = None) -> dict[str, Any]:
    """The state update for a new text written from `draft`: the next candidate, or a rejected revision
    (recorded with `by`, who asked for it) when the leak check finds a reason."""
    candidates = list(state["candidates"])
    round_ = state.get("round", 0) + 1
    reasons = check_revision(text, prompt=state["prompt"], draft=draft["text"], critiques=critiques,
                             principles=ctx.constitution.principles,
                             earlier=[c["text"] for c in candidates if c["source"] != "human"])
    if reasons:
        rejected = {"round": round_, "draft_index": draft["index"], "text": text, "reasons": reasons, "by": by}
        return {"rejected_revisions": [*state.get("rejected_revisions", []), rejected], "round": round_,
                **(update or {})}
    candidates.append({"index": len(candidates), "round": round_, "text": text, "source": source,
                       "draft_index": draft["index"]})
    return {"candidates": candidates, "round": round_, **(update or {})}


def _marked_principles(human: dict[str, Any], draft: dict[str, Any], ctx: GraphContext) -> list[Any]:
    """Principles the reviewer marked on the draft ({"violations": {"INDEX": [ids]}}), else the critic's."""
    known = {p.id for p in ctx.constitution.principles}
    marked = (human.get("violations") or {}).get(str(draft["index"]), [])
    ids = [pid for pid in marked if pid in known] or [c["principle_id"] for c in violated(draft)] or ["helpfulness"]
    return [ctx.constitution.principle(pid) for pid in dict.fromkeys(ids) if pid in known] \
        or list(ctx.constitution.by_priority()[:1])


def judge(state: State, ctx: GraphContext) -> dict[str, Any]:
    """The original against each revision, per principle and combined by priority and weight."""
    candidates = state["candidates"]
    flagged = {c["principle_id"] for cand in candidates for c in violated(cand)}
    wanted = flagged | set(ctx.spec.judge.include)
    principles = [p for p in ctx.constitution.by_priority() if p.id in wanted]
    rows: list[dict[str, Any]] = []
    for cand in candidates[1:]:
        verdicts = ctx.roles.compare(state["prompt"], candidates[0]["text"], cand["text"], principles)
        per = {}
        for v in verdicts:
            per[v.principle_id] = float(v.prob_b_better)
            rows.append({"a_index": 0, "b_index": cand["index"], "principle_id": v.principle_id,
                         "prob_b_better": float(v.prob_b_better),
                         "prob_b_better_swapped": float(v.prob_b_better_ba),
                         "explanation": f"A/B order {v.prob_b_better_ab:.2f}, B/A order {v.prob_b_better_ba:.2f}"})
        combined = combine_preferences(per, ctx.constitution, ctx.spec.judge.priority_decay)
        rows.append({"a_index": 0, "b_index": cand["index"], "principle_id": None,
                     "prob_b_better": combined, "prob_b_better_swapped": None,
                     "explanation": "combined: weight x "
                                    f"{ctx.spec.judge.priority_decay}^(priority-1) over {', '.join(per)}"})
    return {"judgments": rows}


def route(state: State, ctx: GraphContext) -> dict[str, Any]:
    decision = decide(state, ctx.constitution, ctx.deciding_spec)
    return {"decision": decision, "final_response": decision.get("final_text")}


def combine_preferences(per_principle: dict[str, float], constitution: Constitution,
                        priority_decay: float) -> float:
    """Weighted mean of P(B better): weight x decay^(priority-1), so higher priorities dominate."""
    total = weight_sum = 0.0
    for pid, prob in per_principle.items():
        p = constitution.principle(pid)
        w = p.weight * priority_decay ** (p.priority - 1)
        total += w * prob
        weight_sum += w
    return total / weight_sum if weight_sum else 0.5


def escalate(state: State, ctx: GraphContext) -> dict[str, Any]:
    """Store the case and queue it for a human, then pause until a decision arrives.

    Measurement runs (eval, calibration) never reach the queue: the escalation
    stays the thread's route, with its reasons, no response is delivered, and
    `persist` stores it as a finished trajectory.
    """
    if not ctx.reviewed:
        return {"final_response": None}
    review = save_pending(state, ctx)
    human = interrupt(review)
    candidates, decision = apply_decision(state, human, ctx.spec)
    return {"candidates": candidates, "decision": decision, "human": dict(human),
            "final_response": decision.get("final_text")}


def persist(state: State, ctx: GraphContext) -> dict[str, Any]:
    trajectory_id = save_final(state, ctx)
    return {} if trajectory_id is None else {"trajectory_id": trajectory_id}


NODES = {"base": base, "safety": safety, "critic": critic, "revise": revise, "judge": judge,
         "route": route, "escalate": escalate, "persist": persist}
