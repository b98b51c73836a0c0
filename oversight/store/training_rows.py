"""What training exports read: resolved trajectories of the runs that may feed training, with their pairs.

Only production and datagen runs feed training; eval and calibration runs measure
and never teach. A trajectory counts once it is resolved (status done: finished
automatically or after a reviewer's decision).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from oversight.store.db import Store
from oversight.store.records import PreferenceRecord, TrajectoryRecord
from oversight.store.tables import Candidate, PreferencePair, ReviewItem, Run, Trajectory

TRAINING_RUN_KINDS = ("production", "datagen")


class ResolvedTrajectory(BaseModel):
    """A finished trajectory, the kind of run it came from, and who reviewed it (if anyone)."""

    model_config = ConfigDict(frozen=True)

    trajectory: TrajectoryRecord
    run_kind: str
    constitution_hash: str
    reviewer: str | None = None


def resolved_trajectories(store: Store, *, since: datetime | None = None, until: datetime | None = None,
                          kinds: tuple[str, ...] = TRAINING_RUN_KINDS, constitution_hash: str | None = None,
                          route: str | None = None) -> list[ResolvedTrajectory]:
    """Finished trajectories (with candidates, critiques and pairs) of runs of the given kinds, oldest first."""
    query = (select(Trajectory, Run.kind, Run.constitution_hash).join(Run, Run.id == Trajectory.run_id)
             .where(Trajectory.status == "done", Run.kind.in_(kinds)).order_by(Trajectory.id)
             .options(selectinload(Trajectory.candidates).selectinload(Candidate.critiques),
                      selectinload(Trajectory.judgments), selectinload(Trajectory.preference_pairs)))
    if since is not None:
        query = query.where(Trajectory.updated_at > since)
    if until is not None:
        query = query.where(Trajectory.updated_at <= until)
    if constitution_hash is not None:
        query = query.where(Run.constitution_hash == constitution_hash)
    if route is not None:
        query = query.where(Trajectory.route == route)
    with store.session() as session:
        rows = session.execute(query).all()
        reviewers = _reviewers(session, [t.id for t, _k, _c in rows])
        return [ResolvedTrajectory(trajectory=TrajectoryRecord.model_validate(t), run_kind=kind,
                                   constitution_hash=chash, reviewer=reviewers.get(t.id) or _extra_reviewer(t.extra_json))
                for t, kind, chash in rows]


def loose_pairs(store: Store, *, since: datetime | None = None, until: datetime | None = None,
                constitution_hash: str | None = None) -> list[PreferenceRecord]:
    """Pairs stored outside any trajectory (added directly, e.g. by a reviewer), oldest first."""
    query = select(PreferencePair).where(PreferencePair.trajectory_id.is_(None)).order_by(PreferencePair.id)
    if since is not None:
        query = query.where(PreferencePair.created_at > since)
    if until is not None:
        query = query.where(PreferencePair.created_at <= until)
    if constitution_hash is not None:
        query = query.where(PreferencePair.constitution_hash == constitution_hash)
    with store.session() as session:
        return [PreferenceRecord.model_validate(p) for p in session.scalars(query)]


def count_resolved(store: Store, *, since: datetime | None = None,
                   kinds: tuple[str, ...] = TRAINING_RUN_KINDS) -> int:
    """How many resolved, non-error trajectories of training runs were written after `since`."""
    query = (select(func.count()).select_from(Trajectory).join(Run, Run.id == Trajectory.run_id)
             .where(Trajectory.status == "done", Trajectory.route != "error", Run.kind.in_(kinds)))
    if since is not None:
        query = query.where(Trajectory.updated_at > since)
    with store.session() as session:
        return int(session.scalar(query) or 0)


def _reviewers(session: Any, trajectory_ids: list[int]) -> dict[int, str]:
    if not trajectory_ids:
        return {}
    found = session.execute(select(ReviewItem.trajectory_id, ReviewItem.reviewer).where(
        ReviewItem.trajectory_id.in_(trajectory_ids), ReviewItem.reviewer.is_not(None)))
    return {tid: reviewer for tid, reviewer in found}


def _extra_reviewer(extra: dict[str, Any]) -> str | None:
    human = extra.get("human") if isinstance(extra, dict) else None
    return human.get("reviewer") if isinstance(human, dict) and human.get("reviewer") else None
