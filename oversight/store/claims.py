"""Claiming review items under a lease, releasing them, and recording decisions, never twice.

A claim is one transaction: pick the best free item and write `claimed_by` and
`lease_expires_at` on it, plus its audit row. On PostgreSQL that is a single statement
(`claim_statement.py`) whose pick is `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent
reviewers each lock a different row without waiting, in one round trip; on SQLite every
transaction holds the write lock from its start (BEGIN IMMEDIATE), and the UPDATE
repeats the "still free" condition, so of two claims of one item exactly one matches.
A lease that runs out frees the item for the next claim; the former holder's decision
is then refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, or_, select, update
from sqlalchemy.orm import Session

from oversight.errors import OversightError
from oversight.store.audit import snapshot, write_audit
from oversight.store.claim_statement import ITEM_COLUMNS, claim_statement
from oversight.store.db import Store
from oversight.store.records import ReviewRecord
from oversight.store.review_reads import DecisionRecord, item_decisions
from oversight.store.tables import ReviewDecision, Reviewer, ReviewItem, Run, utcnow


@dataclass(frozen=True)
class Resolution:
    """What a decision does to its item: the new status and, once final, the decision to apply."""

    status: str
    final: dict[str, Any] | None = None
    detail: str = ""


def _free(now: datetime) -> Any:
    return or_(ReviewItem.claimed_by.is_(None), ReviewItem.lease_expires_at <= now)


def _take(session: Session, row: ReviewItem, who: str, lease: timedelta, now: datetime,
          action: str, actor: str | None = None, detail: str = "") -> ReviewRecord:
    before = snapshot(row)
    row.claimed_by, row.claimed_at, row.lease_expires_at = who, now, now + lease
    write_audit(session, actor or who, action, row.id, before, snapshot(row), detail, at=now)
    return ReviewRecord.model_validate(row)


@dataclass(frozen=True)
class Claimed:
    """A claimed item and what its page shows besides: the decisions so far and its run's constitution."""

    item: ReviewRecord
    decisions: list[DecisionRecord]
    constitution_name: str | None


def claim_next(store: Store, who: str, lease: timedelta, *, statuses: Iterable[str] = ("pending",),
               category: str | None = None, run_id: str | None = None,
               skip_categories: Iterable[str] = (), exclude_ids: Iterable[int] = (),
               stored_opt_outs: bool = False) -> Claimed | None:
    """Claim the most urgent free item (status order, priority, then age), or None.

    Items `who` has already decided (the first half of a double review) are skipped, and
    so are `skip_categories`; with `stored_opt_outs` the categories `who`'s account has
    opted out of, as stored at the moment of the claim, are skipped instead (the given
    list only stands in when there is no such account). On PostgreSQL this is one
    statement (`claim_statement`); on SQLite one write transaction.
    """
    statuses, skip, exclude = tuple(statuses), list(skip_categories), list(exclude_ids)
    detail = "next" + (f" category={category}" if category else "") + (f" run={run_id}" if run_id else "")
    claim = _claim_next_postgres if store.engine.dialect.name == "postgresql" else _claim_next_orm
    return claim(store, who, lease, statuses, category, run_id, skip, exclude, stored_opt_outs, detail)


def _claim_next_postgres(store: Store, who: str, lease: timedelta, statuses: tuple[str, ...],
                         category: str | None, run_id: str | None, skip: list[str], exclude: list[int],
                         stored_opt_outs: bool, detail: str) -> Claimed | None:
    """PostgreSQL: one statement in autocommit mode (it is its own transaction): one round trip."""
    now = utcnow()
    until = now + lease
    statement = claim_statement(statuses, category is not None, run_id is not None, bool(skip), bool(exclude),
                                stored_opt_outs)
    params: dict[str, Any] = {
        "who": who, "now": now, "until": until, "until_iso": until.isoformat(), "audit_detail": detail,
        "want_category": category, "want_run_id": run_id, "exclude": exclude, "skip": skip,
        "fallback_opt_outs": skip}
    with store.engine.connect() as conn:
        row = conn.execution_options(isolation_level="AUTOCOMMIT").execute(statement, params).first()
    if row is None:
        return None
    found = row._mapping
    item = ReviewRecord.model_validate({name: found[name] for name in ITEM_COLUMNS})
    # Earlier decisions (a double review's second half, an item sent to an admin) are rare: read them then.
    return Claimed(item, item_decisions(store, item.id) if found["has_decisions"] else [],
                   found["constitution_name"])


def _claim_next_orm(store: Store, who: str, lease: timedelta, statuses: tuple[str, ...],
                    category: str | None, run_id: str | None, skip: list[str], exclude: list[int],
                    stored_opt_outs: bool, detail: str) -> Claimed | None:
    """SQLite (and any other database): one ORM transaction; the UPDATE repeats "still free".

    On SQLite, BEGIN IMMEDIATE holds the write lock; elsewhere the pick's row lock does.
    """
    for _ in range(8):
        now = utcnow()
        with store.session() as session:
            if stored_opt_outs:
                account = session.scalars(select(Reviewer.opted_out_json).where(Reviewer.name == who)).first()
                skip = skip if account is None else list(account or [])
            query = (select(ReviewItem).where(ReviewItem.status.in_(statuses), _free(now))
                     .where(~exists().where(ReviewDecision.item_id == ReviewItem.id,
                                            ReviewDecision.reviewer == who)))
            if category is not None:
                query = query.where(ReviewItem.category == category)
            if run_id is not None:
                query = query.where(ReviewItem.run_id == run_id)
            if skip:
                query = query.where(or_(ReviewItem.category.is_(None), ReviewItem.category.not_in(skip)))
            if exclude:
                query = query.where(ReviewItem.id.not_in(exclude))
            order = [case({s: i for i, s in enumerate(statuses)}, value=ReviewItem.status)] \
                if len(statuses) > 1 else []
            query = query.order_by(*order, ReviewItem.priority.desc(), ReviewItem.created_at,
                                   ReviewItem.id).limit(1).with_for_update(skip_locked=True)
            row = session.scalars(query).first()
            if row is None:
                return None
            before = snapshot(row)
            taken = session.execute(
                update(ReviewItem).where(ReviewItem.id == row.id, ReviewItem.status.in_(statuses),
                                         _free(now))
                .values(claimed_by=who, claimed_at=now, lease_expires_at=now + lease)
                .execution_options(synchronize_session=False)).rowcount
            if taken != 1:
                continue  # the "still free" condition failed: look again
            session.refresh(row)
            write_audit(session, who, "claim", row.id, before, snapshot(row), detail, at=now)
            decisions = [DecisionRecord.model_validate(d) for d in session.scalars(
                select(ReviewDecision).where(ReviewDecision.item_id == row.id).order_by(ReviewDecision.id))]
            constitution = session.scalar(select(Run.constitution_name).where(Run.id == row.run_id))
            return Claimed(ReviewRecord.model_validate(row), decisions, constitution)
    return None


def _locked(session: Session, item_id: int) -> ReviewItem:
    row = session.scalars(select(ReviewItem).where(ReviewItem.id == item_id)
                          .with_for_update()).first()
    if row is None:
        raise OversightError(f"no review item {item_id}")
    return row


def claim_item(store: Store, who: str, item_id: int, lease: timedelta, *,
               statuses: Iterable[str] = ("pending",)) -> ReviewRecord:
    """Claim a chosen item; refused while someone else's lease on it runs or after a decision."""
    now = utcnow()
    with store.session() as session:
        row = _locked(session, item_id)
        if row.status not in statuses:
            raise OversightError(f"review item {item_id} is {row.status}, not open to you")
        if row.claimed_by not in (None, who) and row.lease_expires_at and row.lease_expires_at > now:
            raise OversightError(f"review item {item_id} is held by {row.claimed_by} until "
                                 f"{row.lease_expires_at:%H:%M:%S} UTC")
        done = session.scalar(select(ReviewDecision.id).where(ReviewDecision.item_id == item_id,
                                                             ReviewDecision.reviewer == who))
        if done is not None:
            raise OversightError(f"you have already decided review item {item_id}")
        return _take(session, row, who, lease, now, "renew" if row.claimed_by == who else "claim")


def holding(row: ReviewItem, who: str, now: datetime) -> None:
    """Raise unless `who` holds a live lease on the row."""
    if row.claimed_by != who:
        holder = f"it is held by {row.claimed_by}" if row.claimed_by else "nobody holds it"
        raise OversightError(f"you do not hold review item {row.id} ({holder}); claim it first")
    if row.lease_expires_at is None or row.lease_expires_at <= now:
        raise OversightError(f"your claim on review item {row.id} expired at "
                             f"{row.lease_expires_at:%H:%M:%S} UTC; claim it again")


def release_item(store: Store, who: str, item_id: int, *, action: str = "release",
                 force: bool = False) -> ReviewRecord:
    """Give an item back to the queue (force: an admin freeing someone else's claim)."""
    now = utcnow()
    with store.session() as session:
        row = _locked(session, item_id)
        if not force:
            holding(row, who, now)
        before = snapshot(row)
        row.claimed_by = row.claimed_at = row.lease_expires_at = None
        write_audit(session, who, action, item_id, before, snapshot(row), at=now)
        return ReviewRecord.model_validate(row)


def reassign_item(store: Store, admin: str, item_id: int, to: str, lease: timedelta) -> ReviewRecord:
    """An admin hands an open item to a named reviewer, replacing any claim."""
    now = utcnow()
    with store.session() as session:
        row = _locked(session, item_id)
        if row.status not in ("pending", "admin"):
            raise OversightError(f"review item {item_id} is {row.status}; only open items can be reassigned")
        return _take(session, row, to, lease, now, "reassign", actor=admin, detail=f"to {to}")


def decide_item(store: Store, who: str, role: str, item_id: int, decision: dict[str, Any],
                resolve: Callable[[ReviewRecord, list[dict[str, Any]]], Resolution]) -> ReviewRecord:
    """Record `who`'s decision on an item they hold, and let `resolve` say what it does.

    `resolve` gets the item and the decisions recorded before (each with reviewer, role,
    decision) inside the transaction, so a double review's second half sees the first.
    """
    now = utcnow()
    with store.session() as session:
        row = _locked(session, item_id)
        holding(row, who, now)
        prior = [{"reviewer": d.reviewer, "role": d.role, "decision": d.decision_json}
                 for d in session.scalars(select(ReviewDecision).where(ReviewDecision.item_id == item_id)
                                          .order_by(ReviewDecision.id))]
        if any(p["reviewer"] == who for p in prior):
            raise OversightError(f"you have already decided review item {item_id}")
        outcome = resolve(ReviewRecord.model_validate(row), prior)
        seconds = (now - row.claimed_at).total_seconds() if row.claimed_at else None
        session.add(ReviewDecision(item_id=item_id, reviewer=who, role=role, decision_json=decision,
                                   claimed_at=row.claimed_at, decided_at=now, seconds=seconds))
        before = snapshot(row)
        row.status = outcome.status
        row.claimed_by = row.claimed_at = row.lease_expires_at = None
        if outcome.final is not None:
            row.decision_json, row.reviewer, row.decided_at = outcome.final, who, now
        write_audit(session, who, "decide", item_id, before, {**snapshot(row), "submitted": decision},
                    outcome.detail, at=now)
        return ReviewRecord.model_validate(row)


def expire_overdue(store: Store, deadline_for: Callable[[str | None], timedelta], shortest: timedelta,
                   refusal: Callable[[ReviewRecord], dict[str, Any]]) -> list[int]:
    """Answer every open item past its deadline (and not under a live claim) with `refusal`.

    Only items older than the `shortest` deadline are looked at (and locked), so a sweep
    beside busy claims touches nothing until something can actually be overdue.
    """
    now = utcnow()
    expired: list[int] = []
    with store.session() as session:
        rows = session.scalars(select(ReviewItem).where(ReviewItem.status.in_(("pending", "admin")),
                                                        ReviewItem.created_at <= now - shortest, _free(now))
                               .with_for_update(skip_locked=True))
        for row in rows:
            if row.created_at + deadline_for(row.category) > now:
                continue
            before = snapshot(row)
            row.status, row.timed_out, row.decided_at, row.reviewer = "decided", True, now, "deadline"
            row.decision_json = refusal(ReviewRecord.model_validate(row))
            row.claimed_by = row.claimed_at = row.lease_expires_at = None
            write_audit(session, "system", "deadline", row.id, before, snapshot(row),
                        "no decision before the deadline: the spec's refusal answers", at=now)
            expired.append(row.id)
    return expired


def note_apply(store: Store, item_id: int, error: str | None) -> None:
    """Remember why applying failed (shown in `review show`), or clear it."""
    with store.session() as session:
        session.execute(update(ReviewItem).where(ReviewItem.id == item_id).values(apply_error=error))
        write_audit(session, "system", "apply" if error is None else "apply-failed", item_id,
                    detail=error or "")
