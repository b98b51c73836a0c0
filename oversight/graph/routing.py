"""Where a thread goes next, and why: small pure functions over the state.

Each escalation rule returns a sentence a reviewer can read, or None. `decide`
runs them all, so an escalated case lists every reason that applied, and the
automatic proposal (what the graph would have done) is kept for the reviewer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from oversight.constitution import Constitution
from oversight.graph.spec import GraphSpec
from oversight.graph.state import Decision, State

AfterBase = Literal["safety", "critic", "route"]
AfterSafety = Literal["critic", "route"]
AfterCritic = Literal["revise", "judge", "route"]
AfterRoute = Literal["escalate", "persist"]


# ---- edges -------------------------------------------------------------------

def after_base(spec: GraphSpec) -> Callable[[State], AfterBase]:
    def route(state: State) -> AfterBase:
        if spec.has("safety"):
            return "safety"
        return "critic" if spec.has("critic") else "route"
    return route


def after_safety(spec: GraphSpec) -> Callable[[State], AfterSafety]:
    def route(state: State) -> AfterSafety:
        if prompt_blocked(state.get("safety"), spec) or not spec.has("critic"):
            return "route"
        return "critic"
    return route


def after_critic(spec: GraphSpec) -> Callable[[State], AfterCritic]:
    def route(state: State) -> AfterCritic:
        candidates = state.get("candidates", [])
        latest = candidates[-1] if candidates else {}
        if (spec.has("revise") and violated(latest) and state.get("round", 0) < spec.revision.rounds):
            return "revise"
        if spec.has("judge") and len(candidates) > 1:
            return "judge"
        return "route"
    return route


def after_route(state: State) -> AfterRoute:
    return "escalate" if state.get("decision", {}).get("route") == "escalated" else "persist"


# ---- helpers -------------------------------------------------------------------

def violated(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in candidate.get("critiques", []) if c.get("violated")]


def combined_rows(state: State) -> dict[int, dict[str, Any]]:
    """The combined (all principles) judge row per revision index."""
    return {j["b_index"]: j for j in state.get("judgments", [])
            if j.get("principle_id") is None and j["a_index"] == 0}


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


# ---- rules -----------------------------------------------------------------------

def prompt_blocked(safety: dict[str, Any] | None, spec: GraphSpec) -> str | None:
    if not safety:
        return None
    limit = spec.safety.block_threshold
    if safety["harmful_prob"] >= limit:
        category = f" (most likely category: {safety['top_category']})" if safety.get("top_category") else ""
        return f"the safety model rates the request harmful with p={safety['harmful_prob']:.2f} ≥ {limit:.2f}{category}"
    if safety["jailbreak_prob"] >= limit:
        attack = f" ({safety['top_attack']})" if safety.get("top_attack") else ""
        return (f"the safety model rates the request a jailbreak attempt{attack} with "
                f"p={safety['jailbreak_prob']:.2f} ≥ {limit:.2f}")
    return None


def judge_uncertain(prob: float | None, spec: GraphSpec) -> str | None:
    margin = spec.escalation.judge_margin
    if prob is None or abs(prob - 0.5) >= margin:
        return None
    return (f"the judge is unsure: it prefers the revision with p={prob:.2f}, "
            f"within {margin:.2f} of a coin flip")


def critic_safety_disagreement(state: State, constitution: Constitution, spec: GraphSpec) -> str | None:
    """The safety model and the critic disagree about whether the base answer is harmful."""
    safety = state.get("safety") or {}
    response_p = safety.get("response_harmful_prob")
    candidates = state.get("candidates", [])
    if response_p is None or not candidates or not candidates[0].get("critiques"):
        return None
    harm = [c for c in candidates[0]["critiques"]
            if constitution.principle(c["principle_id"]).category in spec.escalation.harm_categories]
    if not harm:
        return None
    worst = max(harm, key=lambda c: c["violation_prob"])
    gap = response_p - worst["violation_prob"]
    if abs(gap) < spec.escalation.disagreement:
        return None
    if gap > 0:
        return (f"the safety model rates the answer harmful (p={response_p:.2f}) but the critic finds "
                f"no harm-related violation (highest: {worst['principle_id']} p={worst['violation_prob']:.2f})")
    return (f"the critic judges {worst['principle_id']} violated (p={worst['violation_prob']:.2f}) "
            f"but the safety model rates the answer safe (harmful p={response_p:.2f})")


def harmful_answer_kept(state: State, proposal: int | None, spec: GraphSpec) -> str | None:
    """The graph would keep the original answer although the safety model rates it harmful.

    A weak judge can prefer a harmful but fluent answer to a clumsy refusal; a person decides instead.
    """
    response_p = (state.get("safety") or {}).get("response_harmful_prob")
    limit = spec.escalation.harmful_answer
    if proposal != 0 or response_p is None or response_p < limit:
        return None
    return (f"the graph would keep the original answer, but the safety model rates it harmful "
            f"(p={response_p:.2f} ≥ {limit:.2f})")


def priority_conflict(state: State, revision: int, constitution: Constitution,
                      spec: GraphSpec) -> str | None:
    """The revision helps a lower-priority principle while hurting a higher-priority one."""
    margin = spec.escalation.conflict_margin
    rows = [j for j in state.get("judgments", [])
            if j["b_index"] == revision and j["a_index"] == 0 and j.get("principle_id")]
    better = [j for j in rows if j["prob_b_better"] >= 0.5 + margin]
    worse = [j for j in rows if j["prob_b_better"] <= 0.5 - margin]
    for w in sorted(worse, key=lambda j: constitution.principle(j["principle_id"]).priority):
        w_prio = constitution.principle(w["principle_id"]).priority
        for b in better:
            b_prio = constitution.principle(b["principle_id"]).priority
            if b_prio > w_prio:
                return (f"revision {revision} improves {b['principle_id']} (priority {b_prio}, "
                        f"p={b['prob_b_better']:.2f}) but worsens the higher-priority "
                        f"{w['principle_id']} (priority {w_prio}, p={w['prob_b_better']:.2f})")
    return None


def always_human(state: State, constitution: Constitution, spec: GraphSpec) -> str | None:
    listed = set(spec.escalation.always_human)
    if not listed:
        return None
    safety = state.get("safety") or {}
    top = safety.get("top_category")
    if top in listed and safety.get("harmful_prob", 0.0) >= spec.escalation.category_threshold:
        return (f"the case falls under '{top}' (safety model, harmful p={safety['harmful_prob']:.2f}), "
                f"which graph '{spec.name}' always sends to a human")
    for cand in state.get("candidates", []):
        for c in violated(cand):
            p = constitution.principle(c["principle_id"])
            hit = p.id if p.id in listed else p.category if p.category in listed else None
            if hit:
                return (f"the case falls under '{hit}' (critic: {p.id} violated, "
                        f"p={c['violation_prob']:.2f}), which graph '{spec.name}' always sends to a human")
    return None


# ---- the decision ------------------------------------------------------------------

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
