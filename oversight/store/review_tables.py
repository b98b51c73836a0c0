"""The review queue's tables: items (one per thread and round), reviewers, per-person decisions, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from oversight.store.table_base import Base, utcnow


class ReviewItem(Base):
    """A case waiting for (or answered by) a human; keyed by its graph thread and round.

    A thread sent back to the model and escalated again gets a new item (round + 1).
    `claimed_by` holds the item until `lease_expires_at`; an expired lease frees it.
    """

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("thread_id", "round"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(200), index=True)
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    trajectory_id: Mapped[int | None] = mapped_column(
        ForeignKey("trajectories.id", ondelete="SET NULL"))
    prompt_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    reasons_json: Mapped[list[Any]] = mapped_column(default=list)
    payload_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    decision_json: Mapped[dict[str, Any] | None] = mapped_column()
    reviewer: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    # Queue metadata (revision 0003_review).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    category: Mapped[str | None] = mapped_column(String(50), index=True)
    categories_json: Mapped[list[Any]] = mapped_column(default=list)
    principles_json: Mapped[list[Any]] = mapped_column(default=list)
    constitution_version: Mapped[str | None] = mapped_column(String(50))
    constitution_hash: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(200), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column()
    lease_expires_at: Mapped[datetime | None] = mapped_column(index=True)  # 0004_review_claim_order
    timed_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    applied_at: Mapped[datetime | None] = mapped_column()
    apply_error: Mapped[str | None] = mapped_column(Text)


# Revision 0004_review_claim_order: the claim's order over the items nobody holds, read in
# order without a sort; items under a lease (the head of a busy queue) are not in it.
Index("ix_review_items_claim_order", ReviewItem.status, ReviewItem.priority.desc(), ReviewItem.created_at,
      ReviewItem.id, sqlite_where=ReviewItem.claimed_by.is_(None), postgresql_where=ReviewItem.claimed_by.is_(None))


class Reviewer(Base):
    """A person who works the review queue; the token is stored as a salted scrypt hash."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="reviewer")
    token_id: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(255))
    opted_out_json: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewDecision(Base):
    """One person's decision on one item: two rows when the item is double-reviewed."""

    __tablename__ = "review_decisions"
    __table_args__ = (UniqueConstraint("item_id", "reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(20))
    decision_json: Mapped[dict[str, Any]] = mapped_column()
    claimed_at: Mapped[datetime | None] = mapped_column()
    decided_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    seconds: Mapped[float | None] = mapped_column(Float)


class AuditEntry(Base):
    """Append-only record of every claim, release, decision and admin action on the queue."""

    __tablename__ = "review_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[int | None] = mapped_column(Integer, index=True)
    before_json: Mapped[dict[str, Any] | None] = mapped_column()
    after_json: Mapped[dict[str, Any] | None] = mapped_column()
    detail: Mapped[str] = mapped_column(Text, default="")
