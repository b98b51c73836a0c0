"""Fitting linear read-outs with cross-fitted calibration (numpy + scikit-learn).

Choosing the regularisation and fitting the calibration both use out-of-fold
scores on the training split, so the held-out split stays untouched until the
final evaluation: its metrics are honest.
"""

from __future__ import annotations

from collections.abc import Callable

from dataclasses import dataclass

import numpy as np

from oversight.errors import OversightError


@dataclass
class Standardiser:
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        return cls(x.mean(axis=0).astype(np.float32), (x.std(axis=0) + 1e-6).astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale


@dataclass
class LinearFit:
    weight: np.ndarray  # [d] (binary, pairwise) or [k, d] (multiclass)
    bias: np.ndarray    # [1] or [k]
    c: float
    platt_a: float = 1.0
    platt_c: float = 0.0
    temperature: float = 1.0


def _folds(n: int, k: int, seed: int, labels: np.ndarray | None = None) -> list[np.ndarray]:
    """Fold index arrays, stratified by label when given."""
    rng = np.random.default_rng(seed)
    assign = np.empty(n, dtype=int)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == v) for v in np.unique(labels)]
    offset = 0
    for g in groups:
        g = rng.permutation(g)
        assign[g] = (np.arange(len(g)) + offset) % k
        offset += len(g)
    return [np.flatnonzero(assign == f) for f in range(k)]


def logreg(c: float, max_iter: int, intercept: bool = True):  # noqa: ANN202 - sklearn type
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=max_iter, fit_intercept=intercept)


def _check_classes(y: np.ndarray, what: str, minimum: int = 2) -> None:
    values, counts = np.unique(y, return_counts=True)
    if len(values) < minimum:
        raise OversightError(f"{what}: training split has only class(es) {values.tolist()}; need both labels")


def fit_binary(x: np.ndarray, y: np.ndarray, c_grid: tuple[float, ...], folds: int, seed: int,
               max_iter: int, calibrate: bool, what: str, calibrate_on: np.ndarray | None = None) -> LinearFit:
    """L2 logistic regression; C by out-of-fold log loss; Platt scaling on out-of-fold scores.

    `calibrate_on` (a boolean mask) fits the Platt scaling on those rows only: rows added to shape the
    weights (the critic's cross-principle negatives) would otherwise shift the calibrated base rate away
    from the questions the head is asked.
    """
    _check_classes(y, what)
    k = max(2, min(folds, int(np.bincount(y.astype(int)).min())))
    c, oof = _choose_c(
        c_grid, _folds(len(y), k, seed, y), np.zeros(len(y)), lambda scores: log_loss(y, sigmoid(scores)),
        lambda c, train, test: logreg(c, max_iter).fit(x[train], y[train]).decision_function(x[test]))
    model = logreg(c, max_iter).fit(x, y)
    fit = LinearFit(model.coef_[0].astype(np.float32), model.intercept_.astype(np.float32), c)
    if calibrate:
        rows = np.ones(len(y), dtype=bool) if calibrate_on is None else np.asarray(calibrate_on, dtype=bool)
        platt = logreg(1e6, 1000).fit(oof[rows].reshape(-1, 1), y[rows])
        fit.platt_a, fit.platt_c = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    return fit


def fit_multiclass(x: np.ndarray, labels: list[str], classes: tuple[str, ...], c_grid: tuple[float, ...],
                   folds: int, seed: int, max_iter: int, calibrate: bool, what: str) -> LinearFit:
    """Multinomial logistic regression over `classes`; temperature fitted on out-of-fold scores."""
    y = np.array([classes.index(v) for v in labels])
    present = np.unique(y)
    if len(present) < 2:
        raise OversightError(f"{what}: training split has fewer than two classes")
    k = max(2, min(folds, int(np.bincount(y)[present].min())))

    def fold_scores(c: float, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        if len(np.unique(y[train])) < 2:  # a class with one row left a fold with one class: score by frequency
            return np.tile(np.log(np.bincount(y[train], minlength=len(classes)) + 1.0), (len(test), 1))
        return _full_scores(logreg(c, max_iter).fit(x[train], y[train]), x[test], len(classes))

    c, oof = _choose_c(c_grid, _folds(len(y), k, seed, y), np.zeros((len(y), len(classes))),
                       lambda scores: _nll(scores, y), fold_scores)
    model = logreg(c, max_iter).fit(x, y)
    weight = np.full((len(classes), x.shape[1]), 0.0, dtype=np.float32)
    bias = np.full(len(classes), -30.0, dtype=np.float32)  # classes never seen in training: ~0 probability
    weight[model.classes_] = model.coef_ if len(model.classes_) > 2 else np.vstack([-model.coef_[0], model.coef_[0]]) / 2
    bias[model.classes_] = model.intercept_ if len(model.classes_) > 2 else np.array(
        [-model.intercept_[0], model.intercept_[0]]) / 2
    fit = LinearFit(weight, bias, c)
    if calibrate:
        grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 60))
        fit.temperature = float(min(grid, key=lambda t: _nll(oof / t, y)))
    return fit


def fit_pairwise(first: np.ndarray, second: np.ndarray, y: np.ndarray, c_grid: tuple[float, ...], folds: int,
                 seed: int, max_iter: int, calibrate: bool, what: str) -> LinearFit:
    """Bradley-Terry: P(second better) = sigmoid(a * w.(second - first)), no intercept, so both
    presentation orders give the same answer; each pair is also shown flipped."""
    _check_classes(y, what)
    diff = second - first
    k = max(2, min(folds, len(y) // 2))
    c, oof = _choose_c(
        c_grid, _folds(len(y), k, seed, y), np.zeros(len(y)), lambda scores: log_loss(y, sigmoid(scores)),
        lambda c, train, test: logreg(c, max_iter, intercept=False).fit(
            *_flipped(diff[train], y[train])).decision_function(diff[test]))
    xs, ys = _flipped(diff, y)
    model = logreg(c, max_iter, intercept=False).fit(xs, ys)
    fit = LinearFit(model.coef_[0].astype(np.float32), np.zeros(1, dtype=np.float32), c)
    if calibrate:
        xo, yo = _flipped(oof.reshape(-1, 1), y)
        fit.platt_a = float(logreg(1e6, 1000, intercept=False).fit(xo, yo).coef_[0, 0])
    return fit


def _choose_c(c_grid: tuple[float, ...], parts: list[np.ndarray], blank: np.ndarray,
              loss: Callable[[np.ndarray], float],
              fold_scores: Callable[[float, np.ndarray, np.ndarray], np.ndarray]) -> tuple[float, np.ndarray]:
    """The regularisation strength with the best out-of-fold loss, and its out-of-fold scores
    (which the calibration is then fitted on, so it never sees in-sample scores)."""
    best: tuple[float, float, np.ndarray] | None = None
    n = len(blank)
    for c in c_grid:
        oof = blank.copy()
        for test in parts:
            oof[test] = fold_scores(c, np.setdiff1d(np.arange(n), test), test)
        value = loss(oof)
        if best is None or value < best[0]:
            best = (value, c, oof)
    assert best is not None
    return best[1], best[2]


def _flipped(diff: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.vstack([diff, -diff]), np.concatenate([y, 1 - y])


def _full_scores(model, x: np.ndarray, n_classes: int) -> np.ndarray:  # noqa: ANN001
    scores = np.full((len(x), n_classes), -30.0)
    raw = model.decision_function(x)
    if raw.ndim == 1:
        raw = np.stack([-raw / 2, raw / 2], axis=1)
    scores[:, model.classes_] = raw
    return scores


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def _nll(scores: np.ndarray, y: np.ndarray) -> float:
    scores = scores - scores.max(axis=1, keepdims=True)
    logp = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())
