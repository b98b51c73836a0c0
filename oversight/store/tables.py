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

from oversight.verdicts import ROUTES  # noqa: F401 - the store's vocabulary, declared in the ground

# production: real traffic; eval / calibration: measurement runs that never reach the review
# queue nor feed training exports; datagen: constitutional data generation (feeds training).
RUN_KINDS = ("production", "eval", "calibration", "datagen")
# Measurement runs: an escalation is recorded in the trajectory, never queued for a reviewer.
UNREVIEWED_RUN_KINDS = ("eval", "calibration")
TRAJECTORY_STATUSES = ("pending_review", "done")
CANDIDATE_SOURCES = ("base", "reviser", "human")
PAIR_SOURCES = ("ai", "human")
# pending: waiting for a reviewer; admin: waiting for an admin (unsure, or a double review that
# disagreed); decided: recorded, not yet fed to the graph; applied: the thread has resumed.
REVIEW_STATUSES = ("pending", "admin", "decided", "applied")
REVIEWER_ROLES = ("reviewer", "admin")
VERSION_KINDS = ("adapter", "head")
# candidate: trained, not in use; active: the one its role runs (at most one per role); retired: was active.
VERSION_STATUSES = ("candidate", "active", "retired")
# Where a trained adapter started: the role's active adapter, or the bare model.
STARTED_FROM = ("active", "bare")
RETRAIN_STAGES = ("started", "exported", "trained", "evaluated", "promoted", "rejected", "nothing",
                  "failed")
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
    # Human pairs (revision 0003_review): who decided, how long it took, and the principles the
    # reviewer marked as violated by the rejected answer.
    reviewer: Mapped[str | None] = mapped_column(String(200))
    review_seconds: Mapped[float | None] = mapped_column(Float)
    principles_json: Mapped[list[Any] | None] = mapped_column()


class ReviewItem(Base):
    """A case waiting for (or answered by) a human; keyed by its graph thread and round.

    A thread sent back to the model and escalated again gets a new item (round + 1).
    `claimed_by` holds the item until `lease_expires_at`; an expired lease frees it.
    """

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("thread_id", "round"),
        Index("ix_review_items_queue", "status", "priority", "created_at"),
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
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    timed_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    applied_at: Mapped[datetime | None] = mapped_column()
    apply_error: Mapped[str | None] = mapped_column(Text)


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


class ModelVersion(Base):
    """A trained adapter or head: a candidate, the role's active one (at most one) or retired."""

    __tablename__ = "model_versions"
    __table_args__ = (
        Index("uq_model_versions_active_role", "role", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'"))
        .ddl_if(dialect=PARTIAL_INDEX_DIALECTS),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(Text)
    base_model: Mapped[str] = mapped_column(String(500))
    constitution_hash: Mapped[str | None] = mapped_column(String(64))
    metrics_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="candidate", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    notes: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"))
    # Provenance of trained versions (registry revision 0003_registry).
    algorithm: Mapped[str | None] = mapped_column(String(20))
    recipe_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dataset_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_from: Mapped[str | None] = mapped_column(String(20))
    gate_json: Mapped[dict[str, Any] | None] = mapped_column()
    activated_at: Mapped[datetime | None] = mapped_column()
    # The version that was active when this one was promoted: where `rollback` returns to.
    previous_id: Mapped[int | None] = mapped_column(
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


class RetrainRun(Base):
    """One run of the retraining job, with the stage it reached, so a rerun after a crash knows."""

    __tablename__ = "retrain_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(100), default="base")
    stage: Mapped[str] = mapped_column(String(20), default="started", index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    holder: Mapped[str] = mapped_column(String(255), default="")
    # Trajectories updated up to this time were part of this run's export.
    data_until: Mapped[datetime | None] = mapped_column()
    export_id: Mapped[str | None] = mapped_column(String(64))
    export_dir: Mapped[str | None] = mapped_column(Text)
    candidate_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"))
    active_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"))
    config_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    figures_json: Mapped[dict[str, Any]] = mapped_column(default=dict)
    summary: Mapped[str] = mapped_column(Text, default="")
