"""SQLAlchemy models of everything Oversight keeps between runs.

The hand-written migration in `migrations/versions/` must stay in step with
these classes; `tests/test_store.py` compares the two so drift fails loudly.
Timestamps are stored as naive UTC and read back timezone-aware, so SQLite
and PostgreSQL hand callers the same values.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

ROUTES = ("accepted", "revised", "escalated", "refused", "blocked", "error")
# production: real traffic; eval / calibration: measurement runs that never reach the review
# queue nor feed training exports; datagen: constitutional data generation (feeds training).
RUN_KINDS = ("production", "eval", "calibration", "datagen")
TRAJECTORY_STATUSES = ("pending_review", "done")
CANDIDATE_SOURCES = ("base", "reviser", "human")
PAIR_SOURCES = ("ai", "human")
REVIEW_STATUSES = ("pending", "decided", "applied")
VERSION_KINDS = ("adapter", "head")
# Dialects that understand a partial unique index ("one active version per role").
PARTIAL_INDEX_DIALECTS = ("sqlite", "postgresql")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def sha256(value: str) -> str:
    """Digest used to make long texts part of a unique key."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database, aware UTC in Python, on every dialect."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Run(Base):
    """One invocation of a graph over a prompt set; resumable by id."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    graph_name: Mapped[str] = mapped_column(String(200))
    graph_hash: Mapped[str] = mapped_column(String(64))
    constitution_name: Mapped[str] = mapped_column(String(200))
    constitution_hash: Mapped[str] = mapped_column(String(64))
    roles_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="running")
    kind: Mapped[str] = mapped_column(String(20), default="production", server_default="production",
                                      index=True)


class Trajectory(Base):
    """Everything the graph did for one prompt; written once per finish."""

    __tablename__ = "trajectories"
    __table_args__ = (UniqueConstraint("run_id", "prompt_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    prompt_id: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(Text)
    final_response: Mapped[str | None] = mapped_column(Text)
    route: Mapped[str] = mapped_column(String(20), index=True)
    route_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="done")
    safety_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notices_json: Mapped[list[Any]] = mapped_column(default=list)
    extra_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Read-only views: trajectories.py writes children with explicit statements
    # so a rewrite deletes the old rows before inserting the new ones.
    candidates: Mapped[list[Candidate]] = relationship(
        order_by="Candidate.index", viewonly=True)
    judgments: Mapped[list[Judgment]] = relationship(
        order_by="Judgment.id", viewonly=True)
    preference_pairs: Mapped[list[PreferencePair]] = relationship(
        order_by="PreferencePair.id", viewonly=True)


class Candidate(Base):
    """One answer considered for a prompt; index 0 is the base answer."""

    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("trajectory_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trajectory_id: Mapped[int] = mapped_column(ForeignKey("trajectories.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20))

    critiques: Mapped[list[Critique]] = relationship(
        order_by="Critique.id", viewonly=True)


class Critique(Base):
    """The critic's verdict on one candidate against one principle."""

    __tablename__ = "critiques"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[int] = mapped_column(
        ForeignKey("candidates.id", ondelete="CASCADE"), index=True)
    principle_id: Mapped[str] = mapped_column(String(200))
    violation_prob: Mapped[float] = mapped_column(Float)
    violated: Mapped[bool] = mapped_column(Boolean)
    text: Mapped[str | None] = mapped_column(Text)


class Judgment(Base):
    """A pairwise comparison by the judge; principle_id None is the combined score."""

    __tablename__ = "judgments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trajectory_id: Mapped[int] = mapped_column(
        ForeignKey("trajectories.id", ondelete="CASCADE"), index=True)
    a_index: Mapped[int] = mapped_column(Integer)
    b_index: Mapped[int] = mapped_column(Integer)
    principle_id: Mapped[str | None] = mapped_column(String(200))
    prob_b_better: Mapped[float] = mapped_column(Float)
    prob_b_better_swapped: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(Text)


class PreferencePair(Base):
    """Training material: chosen beats rejected with some confidence."""

    __tablename__ = "preference_pairs"
    __table_args__ = (
        UniqueConstraint("trajectory_id", "source", "chosen_sha", "rejected_sha"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trajectory_id: Mapped[int | None] = mapped_column(
        ForeignKey("trajectories.id", ondelete="CASCADE"))
    prompt: Mapped[str] = mapped_column(Text)
    chosen: Mapped[str] = mapped_column(Text)
    rejected: Mapped[str] = mapped_column(Text)
    chosen_sha: Mapped[str] = mapped_column(String(64))
    rejected_sha: Mapped[str] = mapped_column(String(64))
    probability: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20), index=True)
    principle_id: Mapped[str | None] = mapped_column(String(200))
    constitution_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_in_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), index=True)


class ReviewItem(Base):
    """A case waiting for (or answered by) a human; keyed by its graph thread."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(200), unique=True)
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


class ModelVersion(Base):
    """A trained adapter or head; at most one active per role."""

    __tablename__ = "model_versions"
    __table_args__ = (
        Index("uq_model_versions_active_role", "role", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active"))
        .ddl_if(dialect=PARTIAL_INDEX_DIALECTS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(String(500))
    constitution_hash: Mapped[str | None] = mapped_column(String(64))
    metrics_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notes: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"))


class Lease(Base):
    """A named, expiring claim: one holder at a time, across processes and machines.

    Used for a graph thread (one worker per thread), a run id (one process per run)
    and the retraining job (one retrain at a time). See `store/leases.py`.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
