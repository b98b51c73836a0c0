"""Deleting what a run or a time span left behind: prompts are user data.

`purge` removes trajectories (with their candidates, critiques and judgments),
their preference pairs and review items, and runs left empty. It refuses, before
deleting anything, when a selected thread still waits for a review or a
decision is not yet applied, or when a selected pair trained a model version
that is active now. It returns the thread ids it removed so the caller can
delete their LangGraph checkpoints too (the store does not know LangGraph).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select, true, tuple_
from sqlalchemy.orm import Session

from oversight.errors import OversightError
from oversight.store.db import Store
from oversight.store.tables import ModelVersion, PreferencePair, ReviewItem, Run, Trajectory

# Review items in these states still need their thread (a person or the graph has work to do).
OPEN_REVIEW = ("pending", "admin", "decided")


@dataclass
class PurgeReport:
    runs: int = 0
    trajectories: int = 0
    pairs: int = 0
    review_items: int = 0
    threads: list[tuple[str, str]] = field(default_factory=list)  # (run_id, prompt_id) of removed trajectories
    dry_run: bool = False


def purge(store: Store, *, run_id: str | None = None, before: datetime | None = None,
          after: datetime | None = None, dry_run: bool = False) -> PurgeReport:
    """Delete one run's data (`run_id`) or everything created in [after, before); all or nothing."""
    if (run_id is None) == (before is None):
        raise OversightError("purge needs either a run id or a --before date (not both)")
    if after is not None and before is not None and after >= before:
        raise OversightError(f"--after {after:%Y-%m-%d %H:%M} is not earlier than --before {before:%Y-%m-%d %H:%M}")
    with store.session() as session:
        if run_id is not None:
            if session.get(Run, run_id) is None:
                raise OversightError(f"no run named {run_id!r}")
            chosen: ColumnElement[bool] = Trajectory.run_id == run_id
            pairs = PreferencePair.trajectory_id.in_(select(Trajectory.id).where(chosen))
            runs: ColumnElement[bool] = Run.id == run_id
        else:
            chosen = _span(Trajectory.created_at, before, after)
            pairs = PreferencePair.trajectory_id.in_(select(Trajectory.id).where(chosen)) | and_(
                PreferencePair.trajectory_id.is_(None), _span(PreferencePair.created_at, before, after))
            runs = _span(Run.created_at, before, after)
        reviews = ReviewItem.trajectory_id.in_(select(Trajectory.id).where(chosen)) | \
            tuple_(ReviewItem.run_id, ReviewItem.prompt_id).in_(select(Trajectory.run_id, Trajectory.prompt_id)
                                                                 .where(chosen))
        if run_id is not None:
            reviews = reviews | (ReviewItem.run_id == run_id)
        _refuse_needed(session, chosen, pairs, reviews)
        # Runs whose every trajectory is selected (or that have none) go with them.
        emptied = select(Run.id).where(runs, ~exists().where(Trajectory.run_id == Run.id, ~chosen))
        report = PurgeReport(
            threads=[(r, p) for r, p in session.execute(select(Trajectory.run_id, Trajectory.prompt_id)
                                                        .where(chosen).order_by(Trajectory.id))],
            pairs=_count(session, PreferencePair, pairs), review_items=_count(session, ReviewItem, reviews),
            runs=_count(session, Run, Run.id.in_(emptied)), dry_run=dry_run)
        report.trajectories = len(report.threads)
        if dry_run:
            return report
        run_ids = list(session.scalars(emptied))
        session.execute(delete(PreferencePair).where(pairs))
        session.execute(delete(ReviewItem).where(reviews))
        session.execute(delete(Trajectory).where(chosen))  # candidates, critiques, judgments cascade
        for start in range(0, len(run_ids), 500):
            session.execute(delete(Run).where(Run.id.in_(run_ids[start:start + 500])))
        return report


def _span(column: Any, before: datetime | None, after: datetime | None) -> ColumnElement[bool]:
    parts = [column < before] if before is not None else []
    if after is not None:
        parts.append(column >= after)
    return and_(true(), *parts)


def _refuse_needed(session: Session, chosen: ColumnElement[bool], pairs: ColumnElement[bool],
                   reviews: ColumnElement[bool]) -> None:
    waiting = session.execute(select(Trajectory.run_id, Trajectory.prompt_id)
                              .where(chosen, Trajectory.status != "done").limit(1)).first()
    open_item = session.scalars(select(ReviewItem.thread_id).where(reviews, ReviewItem.status.in_(OPEN_REVIEW))
                                .limit(1)).first()
    if waiting is not None or open_item is not None:
        count = max(_count(session, Trajectory, and_(chosen, Trajectory.status != "done")),
                    _count(session, ReviewItem, and_(reviews, ReviewItem.status.in_(OPEN_REVIEW))))
        example = open_item or f"{waiting[0]}:{waiting[1]}"  # type: ignore[index]
        raise OversightError(f"refused: {count} selected prompt(s) still wait for a review (e.g. thread {example}); "
                             "decide and apply them first (nothing was deleted)")
    needed = session.execute(select(ModelVersion.id, ModelVersion.role, func.count())
                             .join(PreferencePair, PreferencePair.used_in_version_id == ModelVersion.id)
                             .where(pairs, ModelVersion.status == "active")
                             .group_by(ModelVersion.id, ModelVersion.role)).first()
    if needed is not None:
        raise OversightError(f"refused: {needed[2]} selected preference pair(s) trained version {needed[0]} of "
                             f"{needed[1]}, which is active; retire or replace it first (nothing was deleted)")


def _count(session: Session, table: type, where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(table).where(where)) or 0)
