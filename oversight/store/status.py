"""What an operator asks first: how deep the queue is, what runs, what the last runs and retrain did.

Read-only queries behind `python -m oversight.run status`; each returns plain
records so the command can print them as a table or as JSON.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, inspect, select, text

from oversight.store.db import Store
from oversight.store.tables import ModelVersion, RetrainRun, ReviewItem, Run, Trajectory


class QueueStatus(BaseModel):
    open_items: int
    by_status: dict[str, int]
    oldest_open_at: datetime | None
    oldest_open_id: int | None
    timed_out: int = 0
    """Items nobody decided before their deadline (answered with the spec's refusal)."""


class RunStatus(BaseModel):
    id: str
    kind: str
    status: str
    graph_name: str
    created_at: datetime | None
    routes: dict[str, int]


class ActiveVersion(BaseModel):
    role: str
    id: int
    kind: str
    base_model: str
    created_at: datetime | None
    activated_at: datetime | None
    metrics: dict[str, Any]


class RetrainStatus(BaseModel):
    id: int
    role: str
    stage: str
    started_at: datetime | None
    finished_at: datetime | None
    summary: str


# Review items that still need a person or the graph (everything but applied).
OPEN_REVIEW = ("pending", "admin", "decided")


def queue_status(store: Store) -> QueueStatus:
    with store.session() as session:
        counts = dict(session.execute(select(ReviewItem.status, func.count()).group_by(ReviewItem.status)).all())
        oldest = session.execute(select(ReviewItem.id, ReviewItem.created_at)
                                 .where(ReviewItem.status.in_(OPEN_REVIEW))
                                 .order_by(ReviewItem.created_at, ReviewItem.id).limit(1)).first()
        timed_out = session.scalar(select(func.count()).select_from(ReviewItem)
                                   .where(ReviewItem.timed_out.is_(True))) or 0
    return QueueStatus(open_items=sum(n for s, n in counts.items() if s in OPEN_REVIEW), timed_out=int(timed_out),
                       by_status={str(s): int(n) for s, n in counts.items()},
                       oldest_open_at=oldest[1] if oldest else None, oldest_open_id=oldest[0] if oldest else None)


def last_runs(store: Store, limit: int = 5) -> list[RunStatus]:
    """The newest runs, each with its trajectories counted by route."""
    with store.session() as session:
        runs = session.scalars(select(Run).order_by(Run.created_at.desc(), Run.id).limit(limit)).all()
        ids = [r.id for r in runs]
        routes: dict[str, dict[str, int]] = {i: {} for i in ids}
        if ids:
            for run_id, route, n in session.execute(
                    select(Trajectory.run_id, Trajectory.route, func.count())
                    .where(Trajectory.run_id.in_(ids)).group_by(Trajectory.run_id, Trajectory.route)):
                routes[run_id][route] = int(n)
        return [RunStatus(id=r.id, kind=r.kind, status=r.status, graph_name=r.graph_name,
                          created_at=r.created_at, routes=routes[r.id]) for r in runs]


def active_versions(store: Store) -> list[ActiveVersion]:
    with store.session() as session:
        rows = session.scalars(select(ModelVersion).where(ModelVersion.status == "active")
                               .order_by(ModelVersion.role)).all()
        return [ActiveVersion(role=r.role, id=r.id, kind=r.kind, base_model=r.base_model, created_at=r.created_at,
                              activated_at=r.activated_at, metrics=dict(r.metrics_json or {})) for r in rows]


def last_retrain(store: Store) -> RetrainStatus | None:
    with store.session() as session:
        row = session.scalars(select(RetrainRun).order_by(RetrainRun.id.desc()).limit(1)).first()
        if row is None:
            return None
        return RetrainStatus(id=row.id, role=row.role, stage=row.stage, started_at=row.started_at,
                             finished_at=row.finished_at, summary=row.summary or "")


# LangGraph's PostgreSQL checkpointer keeps its tables beside ours.
CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations")


def file_bytes(path: Path) -> int:
    """A SQLite file with its WAL and shared-memory files; 0 when absent."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def storage_bytes(store: Store) -> tuple[int | None, int | None]:
    """(store tables, LangGraph checkpoint tables) in bytes; checkpoints None unless they share the database."""
    if store.is_sqlite:
        name = store.url.database
        return (None if not name or name == ":memory:" else file_bytes(Path(name).expanduser())), None
    with store.connect() as conn:
        sizes = {name: int(conn.execute(text("SELECT pg_total_relation_size(CAST(:t AS regclass))"),
                                        {"t": f'"{name}"'}).scalar_one())
                 for name in inspect(conn).get_table_names()}
    return (sum(n for t, n in sizes.items() if t not in CHECKPOINT_TABLES),
            sum(n for t, n in sizes.items() if t in CHECKPOINT_TABLES))
