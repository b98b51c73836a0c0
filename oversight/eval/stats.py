"""Confidence intervals and significance for rates measured on a few hundred items.

Suites are small, so a difference of a few points is often noise; every rate the
eval reports carries a Wilson interval and `compare` asks a two-proportion test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n is 0."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test; 1.0 when undefined."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(k1 / n1 - k2 / n2) / se
    return math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class Rate:
    """k of n, with its Wilson interval; the unit every eval figure is reported in."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def to_dict(self) -> dict[str, float | int]:
        low, high = self.interval
        return {"k": self.k, "n": self.n, "rate": self.value, "low": low, "high": high}

    @classmethod
    def from_dict(cls, data: dict) -> Rate:
        return cls(int(data["k"]), int(data["n"]))

    def __str__(self) -> str:
        if not self.n:
            return "n/a (n=0)"
        low, high = self.interval
        return f"{self.value:.1%} [{low:.0%}-{high:.0%}] n={self.n}"


def differs(a: Rate, b: Rate, alpha: float = 0.05) -> bool:
    """True when the difference is outside the noise: intervals apart or p < alpha."""
    if not a.n or not b.n:
        return False
    (al, ah), (bl, bh) = a.interval, b.interval
    return (ah < bl or bh < al) or two_proportion_p(a.k, a.n, b.k, b.n) < alpha
