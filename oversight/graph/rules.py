"""Escalation rules: each reads the state and returns a sentence a reviewer can read, or None.

Pure functions of the state, the constitution and the spec, so `decision.py`
can run them all (an escalated case lists every reason that applied) and a
calibration can replay them offline over stored probabilities. The rules about
what is delivered (middle band, the final candidate's check) are in `delivery.py`.
"""

from __future__ import annotations

from typing import Any

from oversight.constitution import Constitution
from oversight.graph.delivery import harm_critiques, lone_alarm_floor
from oversight.graph.spec import GraphSpec
from oversight.graph.state import State, violated


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
    harm = harm_critiques(candidates[0], constitution, spec)
    if not harm:
        return None
    worst = max(harm, key=lambda c: c["violation_prob"])
    gap = response_p - worst["violation_prob"]
    if abs(gap) < spec.escalation.disagreement:
        return None
    if max(response_p, worst["violation_prob"]) < lone_alarm_floor(state, spec):
        return None  # a benign request, and the one alarm that makes the gap is too weak to count alone
    if gap > 0:
        return (f"the safety model rates the answer harmful (p={response_p:.2f}) but the critic finds "
                f"no harm-related violation (highest: {worst['principle_id']} p={worst['violation_prob']:.2f})")
    return (f"the critic judges {worst['principle_id']} violated (p={worst['violation_prob']:.2f}) "
            f"but the safety model rates the answer safe (harmful p={response_p:.2f})")


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
