"""Reliability diagrams: is a 0.8 really right four times in five?"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from oversight.eval.metrics import expected_calibration_error, reliability_bins


def save_reliability_diagram(path: Path, labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                             title: str, bins: int = 10) -> Path:
    """Write a PNG of observed frequency against predicted probability, with the ECE in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confidence, observed, counts = reliability_bins(labels, probs, bins)
    edges = np.linspace(0, 1, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    filled = counts > 0
    fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfect calibration")
    ax.bar(centers[filled], observed[filled], width=1 / bins * 0.9, alpha=0.6, label="observed frequency")
    ax.plot(confidence[filled], observed[filled], "o-", color="black", markersize=3, label="bin mean")
    for x, y, n in zip(centers[filled], observed[filled], counts[filled], strict=True):
        ax.annotate(str(int(n)), (x, min(y + 0.02, 0.97)), ha="center", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"{title}\nECE {expected_calibration_error(labels, probs, bins):.3f}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
