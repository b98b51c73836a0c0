"""The human review queue: one item per interrupted graph thread.

Items are keyed by thread id so a graph that re-enters its interrupt (a
resumed run, a retried node) finds its item instead of adding a second one.
A decision is recorded once; applying it (resuming the thread) is marked
separately so a crash between the two leaves the item visible as decided.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from oversight.errors import OversightError
from oversight.store._util import retrying
from oversight.store.db import Store
from oversight.store.records import ReviewRecord
from oversight.store.tables import ReviewItem, utcnow


def enqueue_review(store: Store, thread_id: str, run_id: str, prompt_id: str, reason: str,
                   reasons: list[str], payload: dict[str, Any],
                   trajectory_id: int | None = None) -> int:
    """Add a review item for a thread, or return the id it already has."""

    def work() -> int:
        with store.session() as session:
            existing = session.scalars(
                select(ReviewItem.id).where(ReviewItem.thread_id == thread_id)).first()
            if existing is not None:
                return existing
            row = ReviewItem(thread_id=thread_id, run_id=run_id, prompt_id=prompt_id,
                             reason=reason, reasons_json=list(reasons),
                             payload_json=dict(payload), trajectory_id=trajectory_id,
                             status="pending")
            session.add(row)
            session.flush()
            return row.id

    return retrying(work)


def pending_reviews(store: Store, limit: int | None = None,
                    run_id: str | None = None) -> list[ReviewRecord]:
    """Items awaiting a decision, oldest first."""
    query = select(ReviewItem).where(ReviewItem.status == "pending").order_by(ReviewItem.id)
    if run_id is not None:
        query = query.where(ReviewItem.run_id == run_id)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [ReviewRecord.model_validate(row) for row in session.scalars(query)]


def decided_reviews(store: Store, limit: int | None = None) -> list[ReviewRecord]:
    """Items with a decision not yet applied (to resume their threads), oldest first."""
    query = select(ReviewItem).where(ReviewItem.status == "decided").order_by(ReviewItem.id)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [ReviewRecord.model_validate(row) for row in session.scalars(query)]


def get_review(store: Store, item_id: int) -> ReviewRecord | None:
    with store.session() as session:
        row = session.get(ReviewItem, item_id)
        return None if row is None else ReviewRecord.model_validate(row)


def get_review_by_thread(store: Store, thread_id: str) -> ReviewRecord | None:
    with store.session() as session:
        row = session.scalars(select(ReviewItem).where(ReviewItem.thread_id == thread_id)).first()
        return None if row is None else ReviewRecord.model_validate(row)


def record_decision(store: Store, item_id: int, decision: dict[str, Any],
                    reviewer: str) -> ReviewRecord:
    """Store a reviewer's decision; only a pending item accepts one.

    The status check is part of the UPDATE itself, so of two reviewers
    deciding at once exactly one succeeds.
    """
    with store.session() as session:
        changed = session.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item_id, ReviewItem.status == "pending")
            .values(status="decided", decision_json=dict(decision), reviewer=reviewer,
                    decided_at=utcnow())).rowcount
        row = session.get(ReviewItem, item_id, populate_existing=True)
        if row is None:
            raise OversightError(f"no review {item_id}")
        if changed == 0:
            raise OversightError(f"review {item_id} was already decided"
                                 f"{f' by {row.reviewer}' if row.reviewer else ''}")
        return ReviewRecord.model_validate(row)


def mark_applied(store: Store, item_id: int) -> None:
    """Note that the decision was fed back to the graph; repeating it is harmless."""
    with store.session() as session:
        row = session.get(ReviewItem, item_id, with_for_update=True)
        if row is None:
            raise OversightError(f"no review {item_id}")
        if row.status == "pending":
            raise OversightError(f"review {item_id} has no decision yet")
        row.status = "applied"
