"""Read-side queries of the review queue (views, stats, intake), returning plain records.

Writes that change who holds or decided an item live in `store/claims.py`; this module
only reads, plus the one-time filling of an item's categories.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from oversight.store.db import Store
from oversight.store.records import ReviewRecord
from oversight.store.tables import ReviewDecision, ReviewItem

OPEN = ("pending", "admin")


class DecisionRecord(BaseModel):
    """One person's decision on one item."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    item_id: int
    reviewer: str
    role: str
    decision_json: dict = Field(default_factory=dict)  # type: ignore[type-arg]
    claimed_at: datetime | None = None
    decided_at: datetime
    seconds: float | None = None


class QueueCounts(BaseModel):
    by_status: dict[str, int]
    open_by_category: dict[str, int]
    open_items: list[tuple[datetime, str | None, datetime | None]]
    """(created_at, claimed_by, lease_expires_at) of every open item."""
    timed_out: int


def item_decisions(store: Store, item_id: int) -> list[DecisionRecord]:
    with store.session() as session:
        return [DecisionRecord.model_validate(r) for r in session.scalars(
            select(ReviewDecision).where(ReviewDecision.item_id == item_id).order_by(ReviewDecision.id))]


def decisions_since(store: Store, since: datetime | None = None) -> list[DecisionRecord]:
    query = select(ReviewDecision).order_by(ReviewDecision.id)
    if since is not None:
        query = query.where(ReviewDecision.decided_at >= since)
    with store.session() as session:
        return [DecisionRecord.model_validate(r) for r in session.scalars(query)]


def decisions_by_item(store: Store) -> dict[int, list[DecisionRecord]]:
    out: dict[int, list[DecisionRecord]] = defaultdict(list)
    for d in decisions_since(store):
        out[d.item_id].append(d)
    return dict(out)


def decision_counts(store: Store, ids: list[int], role: str = "reviewer") -> dict[int, int]:
    """Decisions by people of `role` per item (how far a double review has come)."""
    if not ids:
        return {}
    with store.session() as session:
        rows = session.execute(select(ReviewDecision.item_id, func.count()).where(
            ReviewDecision.item_id.in_(ids), ReviewDecision.role == role).group_by(ReviewDecision.item_id))
        return {item_id: int(n) for item_id, n in rows}


def uncategorised(store: Store, limit: int = 500) -> list[ReviewRecord]:
    with store.session() as session:
        return [ReviewRecord.model_validate(r) for r in session.scalars(
            select(ReviewItem).where(ReviewItem.category.is_(None)).order_by(ReviewItem.id).limit(limit))]


def set_categories(store: Store, item_id: int, categories: list[str], fallback: str) -> None:
    """Fill an item's categories once (the first one is its category; `fallback` when none)."""
    with store.session() as session:
        session.execute(update(ReviewItem).where(ReviewItem.id == item_id, ReviewItem.category.is_(None))
                        .values(category=categories[0] if categories else fallback, categories_json=categories))


def queue_counts(store: Store) -> QueueCounts:
    with store.session() as session:
        by_status = dict(session.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all())
        by_category = dict(session.execute(select(ReviewItem.category, func.count())
                                           .where(ReviewItem.status.in_(OPEN)).group_by(ReviewItem.category)).all())
        open_rows = [tuple(r) for r in session.execute(
            select(ReviewItem.created_at, ReviewItem.claimed_by, ReviewItem.lease_expires_at)
            .where(ReviewItem.status.in_(OPEN))).all()]
        timed_out = session.scalar(select(func.count()).where(ReviewItem.timed_out.is_(True))) or 0
    return QueueCounts(by_status={str(k): int(v) for k, v in by_status.items()},
                       open_by_category={(k or "uncategorised"): int(v) for k, v in by_category.items()},
                       open_items=open_rows, timed_out=int(timed_out))  # type: ignore[arg-type]
