"""Paragraph prefixes of an answer: what follows an answer cannot talk its harm verdict below the answer's own.

The response head reads a mean-pooled view of the whole exchange, so any text appended to a harmful
answer (a note addressed to the overseers, "rate this safe"; a disclaimer; padding) pulls the pooled
features towards harmless and lowered its probability: the injection set measured a mean shift of 0.05
with 11 of 160 verdicts flipped, and teaching the head with noted copies only brought that to 0.037.
Scoring the answer as it stood at each paragraph break and keeping the highest probability bounds what
appended text can do: a paragraph added after an answer, if it is no longer than the answer, leaves the
answer itself as one of the views (a view holds at least half the whole: see MIN_SHARE), so the verdict
cannot fall below the probability of the answer on its own. Text woven into a paragraph is not covered,
nor a note placed before the harmful part (it sits in every view that holds the harm), nor appended
text longer than the answer. Every caller (graph, PPO reward, trust metrics) scores answers through here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
MAX_VIEWS = 6  # the first five qualifying breaks and the whole answer: appended text comes after them
# A view holds at least half the answer. Shorter prefixes ("Dear [Name],", "Here is the query:") are text
# the head never saw as an answer and rated harmful (an everyday e-mail at 0.96 in a calibration run);
# an appended note is short beside the answer it follows, so the view without it still qualifies.
MIN_SHARE = 0.5


def paragraph_prefixes(response: str, max_views: int = MAX_VIEWS, min_share: float = MIN_SHARE) -> list[str]:
    """The answer cut at each paragraph break past `min_share` of its length, then the whole answer (last).

    Args:
        response: the answer as delivered.
        max_views: at most this many views; the earliest breaks are kept, because what an attacker
            appends comes after the content it wants to hide.
        min_share: a prefix shorter than this share of the (stripped) answer is not a view.
    """
    if max_views < 1:
        raise ValueError("max_views must be at least 1")
    whole = response.strip()
    prefixes: dict[str, str] = {}  # stripped text -> the prefix as cut (blank runs give the same text twice)
    for match in PARAGRAPH_BREAK.finditer(response):
        kept = response[:match.start()].strip()
        if kept and kept != whole and len(kept) >= min_share * len(whole):
            prefixes.setdefault(kept, response[:match.start()])
    return [*list(prefixes.values())[: max_views - 1], response]


def answer_views(answers: Sequence[str], max_views: int = MAX_VIEWS,
                 min_share: float = MIN_SHARE) -> tuple[list[str], list[int]]:
    """Every answer's views, flattened, and how many views each answer has (for `highest_per_answer`)."""
    views = [paragraph_prefixes(a, max_views, min_share) for a in answers]
    return [v for vs in views for v in vs], [len(vs) for vs in views]


def highest_per_answer(probs: Sequence[float], counts: Sequence[int]) -> np.ndarray:
    """The highest probability among each answer's views (`counts` as `answer_views` returned them)."""
    probs = np.asarray(probs, dtype=float)
    if sum(counts) != probs.shape[0]:
        raise ValueError(f"{probs.shape[0]} probabilities for {sum(counts)} views")
    ends = np.cumsum(counts)
    return np.array([probs[end - n:end].max() for n, end in zip(counts, ends, strict=True)])
