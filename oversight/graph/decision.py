"""The route decision: refuse, block, accept, revise, or escalate, with reasons in words.

Order: a request above the block threshold is refused; a request in the middle
band is refused, escalated or must be revised (as the spec declares; an original
answer that already declines needs no revision); the candidate the graph would
deliver, whichever it is, is checked with the safety model and the critic's
harm-related principles (refuse or escalate, as the spec declares; on a request the
safety model rates benign, a lone alarm must reach `delivery.benign_request_alarm`),
and a rewrite that refuses a benign request the original answered is never proposed;
then the escalation rules (a judge coin flip on a benign request escalates only where
`escalation.judge_doubt_on_benign` says so). The automatic proposal (what the graph would do alone) is kept
in an escalated decision, so the reviewer sees it and `accept` can take it. A pure function of (state, constitution, spec): a
calibration replays it offline over stored states with other thresholds.
"""

from __future__ import annotations

from oversight.constitution import Constitution
from oversight.graph.delivery import (
    band_refuses,
    band_requires_revision,
    delivered_harm,
    judge_doubt_counts,
    middle_band,
    needless_refusals,
    reasked_note,
    rejected_revisions,
)
from oversight.graph.rules import (
    always_human,
    critic_safety_disagreement,
    judge_uncertain,
    priority_conflict,
    prompt_blocked,
)
from oversight.graph.spec import GraphSpec
from oversight.graph.state import Decision, State, combined_rows, violated
from oversight.verdicts import RouteName


def decide(state: State, constitution: Constitution, spec: GraphSpec) -> Decision:
    """The route for this thread: refuse, block, accept, revise, or escalate with reasons."""
    safety = state.get("safety")
    candidates = state.get("candidates", [])
    escalating = spec.escalation.enabled
    blocked = prompt_blocked(safety, spec)
    if blocked:
        return _refusal("refused", [blocked], spec)
    band = middle_band(safety, spec)
    band_mode = spec.safety.middle_band if band else None
    notes = rejected_revisions(state)
    if band_refuses(state, spec):
        return _refusal("refused", [f"{band}, and graph '{spec.name}' refuses requests in that band", *notes], spec)
    if band_mode == "revise" and not band_requires_revision(state, spec):
        band_mode = None  # the original already declines: it is checked like any other answer below
        notes = [f"{band}; the original answer already declines, so it was not revised", *notes]
    reasked = reasked_note(state, spec)
    if reasked:
        notes = [reasked, *notes]
    skipped = needless_refusals(state, constitution, spec)
    proposal, reasons, confidence = _proposal(state, spec, skipped, revision_required=band_mode == "revise")
    escalations: list[str] = []
    if band_mode == "revise":
        if proposal is None:
            unusable = f"{band}, and no revision toward a safe answer is left to deliver"
            if not escalating:
                return _refusal("refused", [unusable, *notes], spec)
            escalations.append(unusable)
        else:
            reasons.append(f"{band}, so the original answer was not kept")
    elif band_mode == "escalate":
        escalations.append(f"{band}, and graph '{spec.name}' sends requests in that band to a human")
    harm = delivered_harm(state, proposal, constitution, spec)
    if harm:
        if spec.delivery.on_harmful == "refuse" or not escalating:
            return _refusal("blocked", [harm, *notes], spec)
        escalations.append(harm)
    if escalating:
        best_prob = None
        if band_mode != "revise":  # in the band the original is no option, so the judge's doubt about it is moot
            best_prob = combined_rows(state).get(proposal, {}).get("prob_b_better") if proposal else None
            judged = {i: r for i, r in combined_rows(state).items() if i not in skipped}
            if best_prob is None and len(candidates) > 1 and judged:
                best_prob = max(r["prob_b_better"] for r in judged.values())
        checks = [always_human(state, constitution, spec),
                  critic_safety_disagreement(state, constitution, spec),
                  judge_uncertain(best_prob, spec) if judge_doubt_counts(state, constitution, spec) else None,
                  priority_conflict(state, proposal, constitution, spec) if proposal else None]
        escalations += [c for c in checks if c]
    if escalations:
        return Decision(route="escalated", final_index=proposal, final_text=None,
                        reasons=[*escalations, *notes], judge_confidence=confidence)
    assert proposal is not None  # no candidate to deliver always escalates or refuses above
    return Decision(route="revised" if proposal else "accepted", final_index=proposal,
                    final_text=candidates[proposal]["text"], reasons=[*reasons, *notes],
                    judge_confidence=confidence)


def _refusal(route: RouteName, reasons: list[str], spec: GraphSpec) -> Decision:
    return Decision(route=route, final_index=None, final_text=spec.safety.refusal_message,
                    reasons=reasons, judge_confidence=None)


def _proposal(state: State, spec: GraphSpec, skipped: dict[int, str], *, revision_required: bool = False
              ) -> tuple[int | None, list[str], float | None]:
    """What the graph would do alone: the candidate index (None = none usable), reasons, judge confidence.

    `revision_required` (a middle-band request): the original is no option, only a revision is.
    `skipped`: revisions that may not be delivered outside the band (needless refusals), with the reasons.
    """
    candidates = state.get("candidates", [])
    combined = combined_rows(state)
    if revision_required:
        revisions = [c["index"] for c in candidates[1:]]
        if not revisions:
            return None, [], None
        judged = [i for i in revisions if i in combined]
        if not judged:
            return revisions[-1], [f"revised in {len(revisions)} round(s) toward a safe answer"], None
        best = max(judged, key=lambda i: combined[i]["prob_b_better"])
        prob = combined[best]["prob_b_better"]
        return best, [f"the judge rates revision {best} best of the revisions (p={prob:.2f} against the "
                      "original)"], prob
    notes = list(skipped.values())
    combined = {i: row for i, row in combined.items() if i not in skipped}
    usable = [c["index"] for c in candidates[1:] if c["index"] not in skipped]
    if len(candidates) <= 1 or not usable:
        if candidates and candidates[0].get("critiques") is not None and spec.has("critic"):
            flagged = [c["principle_id"] for c in violated(candidates[0])]
            if flagged:
                return 0, [f"the original answer is kept although the critic flags {', '.join(flagged)}: "
                           "no revision of it was usable", *notes], None
            return 0, ["the critic finds no principle violated", *notes], None
        return 0, ["the safety check passed" if spec.has("safety") else "no checks configured", *notes], None
    if not combined:
        last = usable[-1]
        return last, [f"revised in {last} round(s) from the critic's critiques (no judge in this graph)",
                      *notes], None
    best = max(combined, key=lambda i: combined[i]["prob_b_better"])
    prob = combined[best]["prob_b_better"]
    if prob >= 0.5:
        return best, [f"the judge prefers revision {best} over the original (p={prob:.2f})", *notes], prob
    return 0, [f"the judge prefers the original over every revision (best revision p={prob:.2f})", *notes], 1 - prob
