"""Verdict metrics in plain numpy: AUROC, accuracy, expected calibration error.

Training reports them on held-out material and eval reuses them on live
trajectories, so both read the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _arrays(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float).ravel()
    p = np.asarray(probs, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels and probabilities differ in length ({y.size} vs {p.size})")
    return y, p


def auroc(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); nan when one class is absent."""
    y, p = _arrays(labels, probs)
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sorted_p = p[order]
    i = 0
    while i < len(p):  # average ranks over ties
        j = i
        while j + 1 < len(p) and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def accuracy(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray, threshold: float = 0.5) -> float:
    y, p = _arrays(labels, probs)
    return float(((p >= threshold) == (y == 1)).mean()) if y.size else float("nan")


def reliability_bins(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray, bins: int = 10
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin of predicted P(y=1): mean prediction, observed frequency, count."""
    y, p = _arrays(labels, probs)
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    counts = np.bincount(index, minlength=bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(index, weights=p, minlength=bins) / counts
        observed = np.bincount(index, weights=y, minlength=bins) / counts
    return confidence, observed, counts


def expected_calibration_error(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
                               bins: int = 10) -> float:
    """Count-weighted mean |observed frequency - mean predicted probability| over equal-width bins."""
    confidence, observed, counts = reliability_bins(labels, probs, bins)
    filled = counts > 0
    if not filled.any():
        return float("nan")
    gaps = np.abs(observed[filled] - confidence[filled])
    return float((gaps * counts[filled]).sum() / counts[filled].sum())


def brier(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray) -> float:
    y, p = _arrays(labels, probs)
    return float(((p - y) ** 2).mean()) if y.size else float("nan")


def binary_report(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray) -> dict[str, float]:
    """The figures every verdict reports: auroc, accuracy, ece, brier, n, positives."""
    y, p = _arrays(labels, probs)
    return {"auroc": auroc(y, p), "accuracy": accuracy(y, p), "ece": expected_calibration_error(y, p),
            "brier": brier(y, p), "n": int(y.size), "positives": int((y == 1).sum())}
