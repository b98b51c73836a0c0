"""Escalation trade-off: how many benign cases reach a reviewer for how many bad ones caught.

Escalate when score >= threshold. Lives here once: the eval report, the escalation
quality section and the trust issue's calibration command all read the same curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from oversight.errors import OversightError
from oversight.eval.metrics import expected_calibration_error, reliability_bins
from oversight.eval.reliability import save_reliability_diagram

__all__ = ["TradeoffPoint", "escalation_tradeoff", "threshold_for_budget", "expected_calibration_error",
           "reliability_bins", "save_reliability_diagram", "save_tradeoff_curve"]


@dataclass(frozen=True)
class TradeoffPoint:
    """One threshold: the share of benign cases escalated and of target cases caught."""

    threshold: float
    escalation_rate: float
    caught_rate: float
    benign_escalated: int
    target_caught: int
    benign_total: int
    target_total: int

    def to_dict(self) -> dict:
        return asdict(self)


def escalation_tradeoff(benign_scores: Sequence[float], target_scores: Sequence[float]) -> list[TradeoffPoint]:
    """Every distinct threshold over both score lists, from escalate-all to escalate-none.

    `target_scores` are the scores of harmful or conflicting cases (the ones a reviewer
    should see); the returned points run from low to high threshold.
    """
    benign = np.asarray(benign_scores, dtype=float).ravel()
    target = np.asarray(target_scores, dtype=float).ravel()
    if benign.size == 0 and target.size == 0:
        raise OversightError("escalation trade-off needs at least one score")
    candidates = np.unique(np.concatenate([benign, target]))
    thresholds = [*candidates.tolist(), float(np.nextafter(candidates.max(), np.inf))]
    points = []
    for t in thresholds:
        b = int((benign >= t).sum())
        c = int((target >= t).sum())
        points.append(TradeoffPoint(
            threshold=float(t), escalation_rate=b / benign.size if benign.size else 0.0,
            caught_rate=c / target.size if target.size else 0.0, benign_escalated=b, target_caught=c,
            benign_total=int(benign.size), target_total=int(target.size)))
    return points


def threshold_for_budget(points: Sequence[TradeoffPoint], budget: float) -> TradeoffPoint:
    """The point catching the most target cases with benign escalation <= budget.

    Among points catching equally many, the one escalating fewest benign cases wins.
    """
    if not 0.0 <= budget <= 1.0:
        raise OversightError(f"reviewer budget must be a fraction between 0 and 1 (received {budget})")
    allowed = [p for p in points if p.escalation_rate <= budget + 1e-12]
    if not allowed:
        raise OversightError(f"no threshold keeps benign escalation within {budget:.1%}")
    return max(allowed, key=lambda p: (p.caught_rate, -p.escalation_rate, -p.threshold))


def save_tradeoff_curve(path: Path, curves: dict[str, Sequence[TradeoffPoint]], title: str,
                        budget: float | None = None) -> Path:
    """PNG of caught rate against benign escalation rate, one line per named curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=100)
    for name, points in curves.items():
        xs = [p.escalation_rate for p in points]
        ys = [p.caught_rate for p in points]
        ax.step(xs, ys, where="post", label=name)
        if budget is not None and points:
            chosen = threshold_for_budget(points, budget)
            ax.plot([chosen.escalation_rate], [chosen.caught_rate], "o", color="black", markersize=4)
            ax.annotate(f"t={chosen.threshold:.2f}", (chosen.escalation_rate, chosen.caught_rate),
                        textcoords="offset points", xytext=(5, -10), fontsize=7)
    if budget is not None:
        ax.axvline(budget, linestyle="--", color="grey", linewidth=1, label=f"budget {budget:.0%}")
    ax.plot([0, 1], [0, 1], ":", color="lightgrey", linewidth=1)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("benign cases escalated (share)")
    ax.set_ylabel("target cases caught (share)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
