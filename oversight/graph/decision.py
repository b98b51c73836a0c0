"""The route decision: refuse, block, accept, revise, or escalate, with reasons in words.

The automatic proposal (what the graph would do alone) is kept in an escalated
decision, so the reviewer sees it and `accept` can take it.
"""

from __future__ import annotations

from oversight.constitution import Constitution
from oversight.graph.rules import (
    always_human,
    critic_safety_disagreement,
    harmful_answer_kept,
    judge_uncertain,
    priority_conflict,
    prompt_blocked,
)
from oversight.graph.spec import GraphSpec
from oversight.graph.state import Decision, State, combined_rows


def decide(state: State, constitution: Constitution, spec: GraphSpec) -> Decision:
    """The route for this thread: refuse, block, accept, revise, or escalate with reasons."""
    safety = state.get("safety")
    candidates = state.get("candidates", [])
    blocked = prompt_blocked(safety, spec)
    if blocked:
        return Decision(route="refused", final_index=None, final_text=spec.safety.refusal_message,
                        reasons=[blocked], judge_confidence=None)
    proposal, reasons, confidence = _proposal(state, constitution, spec)
    escalations: list[str] = []
    if spec.escalation.enabled:
        best_prob = combined_rows(state).get(proposal, {}).get("prob_b_better") if proposal else None
        if best_prob is None and len(candidates) > 1 and combined_rows(state):
            best_prob = max(r["prob_b_better"] for r in combined_rows(state).values())
        checks = [always_human(state, constitution, spec),
                  critic_safety_disagreement(state, constitution, spec),
                  judge_uncertain(best_prob, spec),
                  harmful_answer_kept(state, proposal, spec),
                  priority_conflict(state, proposal, constitution, spec) if proposal else None]
        escalations = [c for c in checks if c]
    if escalations:
        return Decision(route="escalated", final_index=proposal, final_text=None,
                        reasons=escalations, judge_confidence=confidence)
    if proposal is None:
        return Decision(route="blocked", final_index=None, final_text=spec.safety.refusal_message,
                        reasons=reasons, judge_confidence=None)
    final = candidates[proposal]["text"] if candidates else None
    return Decision(route="revised" if proposal else "accepted", final_index=proposal, final_text=final,
                    reasons=reasons, judge_confidence=confidence)


def _proposal(state: State, constitution: Constitution, spec: GraphSpec
              ) -> tuple[int | None, list[str], float | None]:
    """What the graph would do alone: the candidate index (None = block), reasons, judge confidence."""
    candidates = state.get("candidates", [])
    safety = state.get("safety") or {}
    if len(candidates) <= 1:
        response_p = safety.get("response_harmful_prob")
        if (not spec.has("critic") and response_p is not None
                and response_p >= spec.safety.response_block_threshold):
            return None, [f"the safety model rates the answer harmful with p={response_p:.2f} ≥ "
                          f"{spec.safety.response_block_threshold:.2f}"], None
        if candidates and candidates[0].get("critiques") is not None and spec.has("critic"):
            return 0, ["the critic finds no principle violated"], None
        return 0, ["the safety check passed" if spec.has("safety") else "no checks configured"], None
    combined = combined_rows(state)
    if not combined:
        last = len(candidates) - 1
        return last, [f"revised in {last} round(s) from the critic's critiques (no judge in this graph)"], None
    best = max(combined, key=lambda i: combined[i]["prob_b_better"])
    prob = combined[best]["prob_b_better"]
    if prob >= 0.5:
        return best, [f"the judge prefers revision {best} over the original (p={prob:.2f})"], prob
    return 0, [f"the judge prefers the original over every revision (best revision p={prob:.2f})"], 1 - prob
