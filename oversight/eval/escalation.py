"""Escalation quality: how well the judge's confidence matches what human reviewers decided.

From review items with a human decision: the judge's P(revision better) for its own
proposal against whether the human kept a revision (calibration: ECE, reliability
diagram), and the share of judge errors (the human overruled the proposal) caught
for a given share of agreed cases escalated, ranking cases by the judge's
uncertainty. Caveat printed with it: reviewed cases were escalated already, so
these are figures on the hard cases, not on all traffic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oversight.eval.metrics import expected_calibration_error
from oversight.eval.reliability import save_reliability_diagram
from oversight.eval.tradeoff import TradeoffPoint, escalation_tradeoff, save_tradeoff_curve, threshold_for_budget


@dataclass(frozen=True)
class HumanCheck:
    """One reviewed case: the judge's probability and what the reviewer did."""

    item_id: int
    prob_revision_better: float
    human_chose_revision: bool | None  # None: the reviewer wrote their own answer or refused
    agreed: bool                       # the reviewer kept the graph's own proposal


def human_checks(reviews: Iterable[Any]) -> list[HumanCheck]:
    """Cases with a decision and a judge probability (review records or dicts with payload/decision)."""
    out: list[HumanCheck] = []
    for review in reviews:
        payload = _get(review, "payload_json") or {}
        decision = _get(review, "decision_json")
        if not decision:
            continue
        combined = {j["b_index"]: j["prob_b_better"] for j in payload.get("judgments", [])
                    if j.get("principle_id") is None and j.get("a_index") == 0}
        if not combined:
            continue
        proposal = payload.get("proposal")
        best = proposal if proposal in combined else max(combined, key=lambda k: combined[k])
        action = decision.get("action")
        chosen = proposal if action == "accept" else decision.get("candidate") if action == "choose" else None
        revision = None if chosen is None else chosen != 0
        out.append(HumanCheck(int(_get(review, "id") or 0), float(combined[best]), revision,
                              agreed=chosen is not None and chosen == proposal))
    return out


def _get(obj: Any, key: str) -> Any:
    return obj.get(key, obj.get(key.removesuffix("_json"))) if isinstance(obj, dict) else getattr(obj, key, None)


def escalation_quality(checks: list[HumanCheck], out_dir: Path | None = None, budget: float = 0.2
                       ) -> dict[str, Any] | None:
    """ECE, the error-catching curve and a threshold for `budget`; PNGs in out_dir. None without data."""
    if not checks:
        return None
    calib = [(c.prob_revision_better, 1 if c.human_chose_revision else 0)
             for c in checks if c.human_chose_revision is not None]
    uncertainty = {c.item_id: 1.0 - 2.0 * abs(c.prob_revision_better - 0.5) for c in checks}
    agreed = [uncertainty[c.item_id] for c in checks if c.agreed]
    errors = [uncertainty[c.item_id] for c in checks if not c.agreed]
    points = escalation_tradeoff(agreed, errors)
    chosen: TradeoffPoint = threshold_for_budget(points, budget)
    report: dict[str, Any] = {
        "cases": len(checks), "calibrated_cases": len(calib), "judge_errors": len(errors),
        "ece": expected_calibration_error([y for _, y in calib], [p for p, _ in calib]) if calib else None,
        "budget": budget, "threshold": {**chosen.to_dict(), "score": "judge uncertainty 1-2|p-0.5|"},
        "curve": [p.to_dict() for p in points]}
    if out_dir is not None:
        if calib:
            report["reliability_png"] = str(save_reliability_diagram(
                out_dir / "judge_vs_human_reliability.png", [y for _, y in calib], [p for p, _ in calib],
                "judge P(revision better) vs reviewers' choice"))
        report["tradeoff_png"] = str(save_tradeoff_curve(
            out_dir / "judge_error_tradeoff.png", {"judge uncertainty": points},
            "judge errors caught vs agreed cases escalated", budget=budget))
    return report
