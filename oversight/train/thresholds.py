"""Held-out thresholds a trained role version must meet before the graph trusts it.

One table serves both gates: `train` refuses to activate a version below them
(unless forced), and `roles check` fails when an active version is below them,
so cron and CI can rely on its exit status.
"""

from __future__ import annotations

import math
from typing import Any

# role -> metric -> (comparison, bound)
THRESHOLDS: dict[str, dict[str, tuple[str, float]]] = {
    "safety": {"auroc": (">=", 0.9), "ece": ("<=", 0.1)},
    "critic": {"auroc": (">=", 0.85), "ece": ("<=", 0.1)},
    "judge": {"accuracy": (">=", 0.8), "ece": ("<=", 0.1)},
    "reviser": {"rewrite_rate": (">=", 0.8)},
}


def meets(value: float, rule: tuple[str, float]) -> bool:
    return value >= rule[1] if rule[0] == ">=" else value <= rule[1]


def shortfalls(role: str, metrics: dict[str, Any]) -> list[str]:
    """Why this role's held-out metrics do not meet its thresholds, one phrase each; empty when they do.

    A metric the threshold needs but the training did not measure counts as a shortfall: a version
    nobody measured is not trusted.
    """
    out = []
    for key, rule in THRESHOLDS.get(role, {}).items():
        value = metrics.get(key)
        if not isinstance(value, (int, float)) or math.isnan(value):
            out.append(f"{key} not measured (want {rule[0]} {rule[1]})")
        elif not meets(value, rule):
            out.append(f"{key} {value:.3f} (want {rule[0]} {rule[1]})")
    return out
