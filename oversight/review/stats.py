"""Queue statistics: depth and age, throughput per reviewer, agreement, overturn rates.

Agreement is Cohen's kappa between the two independent reviews of double-reviewed
items: on what each chose (a candidate, edit, refuse, revise), and per principle on
whether each marked it violated for each candidate. The overturn rate per escalation
reason says how often people did something other than the graph's proposal, which is
what tells whether an escalation threshold is too eager.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from oversight.review.decisions import outcome_label
from oversight.review.models import QueueStats, ReasonOverturn, ReviewerRate
from oversight.review.views import reason_kind
from oversight.store import Store
from oversight.store.queue import list_reviews
from oversight.store.records import ReviewRecord
from oversight.store.review_reads import DecisionRecord, decisions_by_item, decisions_since, queue_counts
from oversight.store.tables import utcnow


def cohen_kappa(pairs: list[tuple[Any, Any]]) -> float | None:
    """Kappa of two raters' labels; None without data, 1.0 when both always agree on one label."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(first[k] * second[k] for k in first.keys() | second.keys()) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else None
    return (observed - expected) / (1 - expected)


def _agreement(items: dict[int, ReviewRecord], decisions: dict[int, list[DecisionRecord]]
               ) -> tuple[int, float | None, float | None, dict[str, float | None]]:
    choice: list[tuple[str, str]] = []
    per_principle: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for item_id, rows in decisions.items():
        firsts = [r for r in rows if r.role == "reviewer" and r.decision_json.get("action") != "unsure"][:2]
        if len(firsts) < 2 or item_id not in items:
            continue
        item = items[item_id]
        proposal = item.payload_json.get("proposal")
        a, b = (r.decision_json for r in firsts)
        choice.append((outcome_label(a, proposal), outcome_label(b, proposal)))
        marks_a, marks_b = a.get("violations") or {}, b.get("violations") or {}
        principles = set(item.principles_json)
        for marks in (marks_a, marks_b):
            for ids in marks.values():
                principles.update(ids)
        for index in range(len(item.payload_json.get("candidates") or [])):
            for pid in principles:
                per_principle[pid].append((pid in marks_a.get(str(index), []), pid in marks_b.get(str(index), [])))
    agree = sum(1 for x, y in choice if x == y) / len(choice) if choice else None
    return len(choice), agree, cohen_kappa(choice), {p: cohen_kappa(v) for p, v in sorted(per_principle.items())}


def _rate(name: str, rows: list[DecisionRecord], window_h: float, hour_ago: datetime) -> ReviewerRate:
    """Pace while reviewing: decisions per hour of time spent on items (claim to decision)."""
    seconds = [r.seconds for r in rows if r.seconds is not None]
    busy = sum(seconds)
    return ReviewerRate(reviewer=name, decisions=len(rows), last_hour=sum(1 for r in rows if r.decided_at >= hour_ago),
                        per_hour=len(rows) * 3600 / busy if busy > 0 else len(rows) / window_h,
                        median_seconds=statistics.median(seconds) if seconds else None)


def _overturned(items: list[ReviewRecord]) -> list[ReasonOverturn]:
    """Per escalation reason: decided items (by people) whose outcome differs from the graph's proposal."""
    overturn: dict[str, list[bool]] = defaultdict(list)
    for item in items:
        if item.status not in ("decided", "applied") or item.timed_out or not item.decision_json:
            continue
        proposal = item.payload_json.get("proposal")
        changed = outcome_label(item.decision_json, proposal) != f"candidate {proposal}"
        for kind in {reason_kind(r) for r in item.reasons_json} or {"other"}:
            overturn[kind].append(changed)
    return [ReasonOverturn(reason=k, decided=len(v), overturned=sum(v), rate=sum(v) / len(v))
            for k, v in sorted(overturn.items())]


def queue_stats(store: Store, *, window_h: float = 24.0) -> QueueStats:
    now = utcnow()
    counts = queue_counts(store)
    recent = decisions_since(store, now - timedelta(hours=window_h))
    items = list_reviews(store, status=None, limit=None)
    ages = sorted((now - created).total_seconds() for created, _, _ in counts.open_items)
    per_reviewer: dict[str, list[DecisionRecord]] = defaultdict(list)
    for d in recent:
        per_reviewer[d.reviewer].append(d)
    seconds = [d.seconds for d in recent if d.seconds is not None]
    double, agree, kappa, kappa_p = _agreement({i.id: i for i in items}, decisions_by_item(store))
    return QueueStats(
        by_status={s: counts.by_status.get(s, 0) for s in ("pending", "admin", "decided", "applied")},
        by_category=dict(sorted(counts.open_by_category.items())),
        pending=counts.by_status.get("pending", 0),
        claimed=sum(1 for _, who, until in counts.open_items if who and until and until > now),
        oldest_pending_age_s=ages[-1] if ages else None,
        median_pending_age_s=statistics.median(ages) if ages else None,
        timed_out=counts.timed_out, window_h=window_h, decisions_in_window=len(recent),
        reviewers=[_rate(n, rows, window_h, now - timedelta(hours=1)) for n, rows in sorted(per_reviewer.items())],
        median_seconds_per_item=statistics.median(seconds) if seconds else None,
        double_reviewed=double, agreement_rate=agree, kappa_choice=kappa, kappa_principles=kappa_p,
        overturned=_overturned(items))
