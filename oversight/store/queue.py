"""The human review queue: one item per escalation of a graph thread.

Items are keyed by (thread id, round): a graph that re-enters its interrupt (a
resumed run, a retried node) finds its item instead of adding a second one,
while a thread sent back to the model and escalated again gets round + 1.
A decision is recorded once; applying it (resuming the thread) is marked
separately so a crash between the two leaves the item visible as decided.
Claims, leases and per-reviewer decisions live in `store/claims.py`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from oversight.errors import OversightError
from oversight.store._util import retrying
from oversight.store.db import Store
from oversight.store.records import ReviewRecord
from oversight.store.tables import ReviewItem, Trajectory, utcnow


def derive_priority(payload: dict[str, Any]) -> int:
    """0-100, larger first: the worst harm or jailbreak probability the safety model saw."""
    safety = payload.get("safety") or {}
    probs = [safety.get(k) for k in ("harmful_prob", "jailbreak_prob", "response_harmful_prob")]
    return int(round(100 * max([0.0, *(float(p) for p in probs if isinstance(p, (int, float)))])))


def derive_principles(payload: dict[str, Any]) -> list[str]:
    """Principle ids any candidate was found to violate, in first-seen order."""
    seen: dict[str, None] = {}
    for cand in payload.get("candidates") or []:
        for crit in cand.get("critiques") or []:
            if crit.get("violated"):
                seen.setdefault(str(crit["principle_id"]), None)
    return list(seen)


def _candidate_texts(payload: dict[str, Any]) -> list[str]:
    return [str(c.get("text")) for c in payload.get("candidates") or []]


def enqueue_review(store: Store, thread_id: str, run_id: str, prompt_id: str, reason: str,
                   reasons: list[str], payload: dict[str, Any],
                   trajectory_id: int | None = None, *, round: int | None = None,
                   priority: int | None = None, categories: list[str] | None = None,
                   principles: list[str] | None = None, constitution_version: str | None = None,
                   constitution_hash: str | None = None) -> int:
    """Add a review item for a thread's escalation, or return the id it already has.

    `round` counts the thread's escalations (0 first). Left out, the newest item of
    the thread is reused when it shows the same candidates (a node re-run) and a new
    round starts otherwise (the thread went back to the model and escalated again).
    `priority` (larger first) defaults to `derive_priority`; principles default to the
    violated ones; the constitution version and hash default to the trajectory's.
    """

    def work() -> int:
        with store.session() as session:
            latest = session.scalars(select(ReviewItem).where(ReviewItem.thread_id == thread_id)
                                     .order_by(ReviewItem.round.desc()).limit(1)).first()
            if round is not None:
                wanted = round
                same = session.scalars(select(ReviewItem.id).where(
                    ReviewItem.thread_id == thread_id, ReviewItem.round == round)).first()
                if same is not None:
                    return same
            elif latest is None:
                wanted = 0
            elif _candidate_texts(latest.payload_json) == _candidate_texts(payload):
                return latest.id
            else:
                wanted = latest.round + 1
            version, digest = constitution_version, constitution_hash
            if trajectory_id is not None and (version is None or digest is None):
                extra = session.scalar(select(Trajectory.extra_json).where(Trajectory.id == trajectory_id)) or {}
                version = version or (str(extra["constitution_version"])
                                      if extra.get("constitution_version") is not None else None)
                digest = digest or extra.get("constitution_hash")
            row = ReviewItem(thread_id=thread_id, round=wanted, run_id=run_id, prompt_id=prompt_id,
                             reason=reason, reasons_json=list(reasons), payload_json=dict(payload),
                             trajectory_id=trajectory_id, status="pending",
                             priority=derive_priority(payload) if priority is None else priority,
                             categories_json=list(categories or []),
                             category=categories[0] if categories else None,
                             principles_json=list(derive_principles(payload) if principles is None
                                                  else principles),
                             constitution_version=version, constitution_hash=digest)
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
    """The thread's newest item (highest round)."""
    with store.session() as session:
        row = session.scalars(select(ReviewItem).where(ReviewItem.thread_id == thread_id)
                              .order_by(ReviewItem.round.desc()).limit(1)).first()
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
                    decided_at=utcnow(), claimed_by=None, claimed_at=None,
                    lease_expires_at=None)).rowcount
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
        if row.status in ("pending", "admin"):
            raise OversightError(f"review {item_id} has no decision yet")
        if row.status != "applied":
            row.status, row.apply_error = "applied", None
            row.claimed_by = row.claimed_at = row.lease_expires_at = None


def finish_applied(store: Store, item_id: int) -> None:
    """The review side is done with an applied item (its pairs are labelled): set `applied_at`."""
    with store.session() as session:
        session.execute(update(ReviewItem).where(ReviewItem.id == item_id, ReviewItem.status == "applied")
                        .values(applied_at=utcnow(), apply_error=None))


def unfinished_reviews(store: Store, limit: int | None = None) -> list[ReviewRecord]:
    """Decided items, and applied ones the review side has not finished (a crash mid-apply), oldest first."""
    query = (select(ReviewItem).where((ReviewItem.status == "decided")
                                      | ((ReviewItem.status == "applied") & ReviewItem.applied_at.is_(None)))
             .order_by(ReviewItem.decided_at, ReviewItem.id))
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [ReviewRecord.model_validate(row) for row in session.scalars(query)]


def list_reviews(store: Store, *, status: str | None = "pending", category: str | None = None,
                 run_id: str | None = None, limit: int | None = 100) -> list[ReviewRecord]:
    """Items by priority (larger first) then age; `status` None lists every status."""
    query = select(ReviewItem).order_by(ReviewItem.priority.desc(), ReviewItem.created_at, ReviewItem.id)
    if status is not None:
        query = query.where(ReviewItem.status == status)
    if category is not None:
        query = query.where(ReviewItem.category == category)
    if run_id is not None:
        query = query.where(ReviewItem.run_id == run_id)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [ReviewRecord.model_validate(row) for row in session.scalars(query)]
