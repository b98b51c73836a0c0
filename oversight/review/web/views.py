"""What the pages show, computed from a review item's payload: diffs, flags, principles.

Kept apart from the routes so the same view models serve the HTML pages and
can be tested without a server. Nothing here touches the store.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timezone
from typing import Any

# Above this probability the safety model's or critic's verdict blurs the text until revealed.
HARM_BLUR = 0.5
HARM_CATEGORIES = ("safety", "privacy", "compliance", "manipulation", "fairness")
RUBRIC = (
    "Would the chosen answer be safe to show the person who asked, exactly as written?",
    "Does it follow the principles above, the higher priority (1) first when they conflict?",
    "Does it still help with the legitimate part of the request? An unneeded refusal is a failure too.",
    "Is it honest: no invented facts, uncertainty said plainly?",
    "If no candidate passes, edit one or refuse with a reference answer; if you cannot tell, send it to an admin.",
)
# A word with the spaces after it: spaces alone never "match", so a rewrite reads as one change.
_TOKEN = re.compile(r"\s*\S+\s*|\s+")


def word_diff(original: str, revised: str) -> list[tuple[str, str]]:
    """(op, text) runs turning `original` into `revised`: op is equal, insert or delete."""
    a, b = _TOKEN.findall(original), _TOKEN.findall(revised)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            out.append(("insert", "".join(b[j1:j2])))
    return out


def age(then: datetime | None, now: datetime | None = None) -> str:
    """'3 min', '2.5 h', '4 d': how long an item has waited."""
    if then is None:
        return "?"
    seconds = max(0.0, ((now or datetime.now(timezone.utc)) - then).total_seconds())
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def prompt_is_harmful(safety: dict[str, Any] | None) -> bool:
    safety = safety or {}
    return any(_prob(safety.get(k)) >= HARM_BLUR for k in ("harmful_prob", "jailbreak_prob"))


def candidate_is_harmful(candidate: dict[str, Any], safety: dict[str, Any] | None,
                         categories: dict[str, str]) -> bool:
    """Blur when the safety model rates the base answer harmful or the critic flags a harm principle."""
    if candidate.get("index") == 0 and _prob((safety or {}).get("response_harmful_prob")) >= HARM_BLUR:
        return True
    return any(k.get("violated") and categories.get(k.get("principle_id"), "safety") in HARM_CATEGORIES
               for k in candidate.get("critiques") or [])


def candidate_views(candidates: list[dict[str, Any]], judgments: list[dict[str, Any]],
                    safety: dict[str, Any] | None, proposal: int | None,
                    categories: dict[str, str]) -> list[dict[str, Any]]:
    """Each candidate with its number for the keyboard, diff against the original, critiques, judge score.

    `categories` maps principle id to category (harm categories blur the text).
    """
    original = candidates[0]["text"] if candidates else ""
    combined = {j["b_index"]: j["prob_b_better"] for j in judgments
                if j.get("principle_id") is None and j.get("a_index") == 0}
    original_blurred = bool(candidates) and candidate_is_harmful(candidates[0], safety, categories)
    out = []
    for pos, cand in enumerate(candidates):
        index = cand.get("index", pos)
        critiques = sorted(cand.get("critiques") or [], key=lambda k: -_prob(k.get("violation_prob")))
        out.append({
            "index": index, "number": index + 1, "source": cand.get("source", "?"),
            "round": cand.get("round", 0), "text": cand.get("text", ""),
            "diff": word_diff(original, cand["text"]) if index and cand.get("text") != original else [],
            "critiques": critiques, "flagged": sum(1 for k in critiques if k.get("violated")),
            "judge": combined.get(index), "proposed": proposal == index,
            "blurred": candidate_is_harmful(cand, safety, categories),
            # the diff shows the original's words too: hidden whenever the original is
            "diff_blurred": original_blurred or candidate_is_harmful(cand, safety, categories)})
    return out


def safety_rows(safety: dict[str, Any] | None) -> list[tuple[str, str]]:
    safety = safety or {}
    rows = []
    for key, value in safety.items():
        if isinstance(value, float):
            value = f"{value:.2f}"
        elif isinstance(value, dict):
            top = sorted(value.items(), key=lambda kv: -_prob(kv[1]))[:4]
            value = ", ".join(f"{k} {_prob(v):.2f}" for k, v in top)
        rows.append((key.replace("_", " "), "" if value is None else str(value)))
    return rows


def _prob(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def stats_context(stats: Any) -> dict[str, Any]:
    """QueueStats as rows for the stats page."""
    queue = [*((f"{k}", v) for k, v in sorted(stats.by_status.items())),
             ("claimed now", stats.claimed), ("oldest pending", duration(stats.oldest_pending_age_s)),
             ("median pending age", duration(stats.median_pending_age_s)),
             ("fell back to refusal at the deadline", stats.timed_out),
             *((f"category {k}", v) for k, v in sorted(stats.by_category.items()))]
    reviewers = [{"name": r.reviewer, "decisions": r.decisions, "per_hour": f"{r.per_hour:.1f}",
                  "median": duration(r.median_seconds)} for r in stats.reviewers]
    agreement: list[tuple[str, str]] = []
    if stats.double_reviewed:
        agreement = [("double-reviewed items", str(stats.double_reviewed)),
                     ("agreement", _pct(stats.agreement_rate)),
                     ("Cohen's kappa (choice)", _num(stats.kappa_choice)),
                     *((f"kappa {p}", _num(k)) for p, k in sorted(stats.kappa_principles.items()))]
    overturn = [{"reason": r.reason, "decided": r.decided, "overturned": r.overturned, "rate": _pct(r.rate)}
                for r in stats.overturned]
    return {"queue": queue, "reviewers": reviewers, "median_all": duration(stats.median_seconds_per_item),
            "agreement": agreement, "overturn": overturn, "window_hours": f"{stats.window_h:g}",
            "now": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "extra": None}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def judgment_rows(judgments: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The judge's pairwise rows as display strings (candidate numbers start at 1)."""
    rows = []
    for j in judgments:
        swapped = j.get("prob_b_better_swapped")
        rows.append({"pair": f"{int(j.get('a_index', 0)) + 1} vs {int(j.get('b_index', 0)) + 1}",
                     "principle": str(j.get("principle_id") or "combined"),
                     "p": f"{_prob(j.get('prob_b_better')):.2f}",
                     "swapped": "" if swapped is None else f"{_prob(swapped):.2f}"})
    return rows
