"""SQLAlchemy models of everything Oversight keeps between runs.

The hand-written migration in `migrations/versions/` must stay in step with
these classes; `tests/test_store.py` compares the two so drift fails loudly.
Timestamps are stored as naive UTC and read back timezone-aware, so SQLite
and PostgreSQL hand callers the same values. The shared base and vocabularies
live in `table_base.py` and the review queue's tables in `review_tables.py`;
everything is re-exported here, so callers import from this module alone.
"""

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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oversight.store.review_tables import AuditEntry, ReviewDecision, Reviewer, ReviewItem  # noqa: F401
from oversight.store.table_base import (  # noqa: F401 - re-exported: callers import the store's vocabulary here
    Base,
    CANDIDATE_SOURCES,
    NAMING,
    PAIR_SOURCES,
    PARTIAL_INDEX_DIALECTS,
    RETRAIN_STAGES,
    REVIEWER_ROLES,
    REVIEW_STATUSES,
    ROUTES,
    RUN_KINDS,
    STARTED_FROM,
    TRAJECTORY_STATUSES,
    UNREVIEWED_RUN_KINDS,
    UTCDateTime,
    VERSION_KINDS,
    VERSION_STATUSES,
    sha256,
    utcnow,
)


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
