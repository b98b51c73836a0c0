"""Records of the retraining job: one row per run, moved through its stages, so a rerun after a crash knows.

Stages: started -> exported -> trained -> evaluated -> promoted | rejected, or
nothing (too little new data) and failed (an error, or a crash found by the next run).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from oversight.errors import OversightError
from oversight.store.db import Store
from oversight.store.tables import RETRAIN_STAGES, RetrainRun, utcnow

FINISHED = ("promoted", "rejected", "nothing", "failed")
# A run that reached one of these consumed its data: the next run counts new trajectories from there.
CONSUMED = ("promoted", "rejected")


class RetrainRecord(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    role: str
    stage: str
    started_at: datetime
    finished_at: datetime | None = None
    holder: str = ""
    data_until: datetime | None = None
    export_id: str | None = None
    export_dir: str | None = None
    candidate_id: int | None = None
    active_id: int | None = None
    config_json: dict[str, Any] = {}
    figures_json: dict[str, Any] = {}
    summary: str = ""

    @property
    def finished(self) -> bool:
        return self.stage in FINISHED


def start_retrain(store: Store, role: str, holder: str, config: dict[str, Any]) -> RetrainRecord:
    with store.session() as session:
        row = RetrainRun(role=role, stage="started", holder=holder, config_json=dict(config), figures_json={},
                         summary="", started_at=utcnow())
        session.add(row)
        session.flush()
        return RetrainRecord.model_validate(row)


def advance_retrain(store: Store, run_id: int, stage: str, **values: Any) -> RetrainRecord:
    """Move a run to `stage`, setting the given columns in the same transaction."""
    if stage not in RETRAIN_STAGES:
        raise OversightError(f"retrain stage must be one of {', '.join(RETRAIN_STAGES)} (received {stage!r})")
    with store.session() as session:
        row = session.get(RetrainRun, run_id, with_for_update=True)
        if row is None:
            raise OversightError(f"no retrain run {run_id}")
        row.stage = stage
        for name, value in values.items():
            setattr(row, name, value)
        if stage in FINISHED:
            row.finished_at = utcnow()
        session.flush()
        return RetrainRecord.model_validate(row)


def unfinished_retrain(store: Store, role: str) -> RetrainRecord | None:
    """The newest run of `role` that never finished (its process died), if any."""
    with store.session() as session:
        row = session.scalars(select(RetrainRun).where(RetrainRun.role == role)
                              .order_by(RetrainRun.id.desc()).limit(1)).first()
        return None if row is None or row.stage in FINISHED else RetrainRecord.model_validate(row)


def last_consumed(store: Store, role: str) -> RetrainRecord | None:
    """The newest run that trained on its data (promoted or rejected): new data is counted after its export."""
    with store.session() as session:
        row = session.scalars(select(RetrainRun).where(RetrainRun.role == role, RetrainRun.stage.in_(CONSUMED))
                              .order_by(RetrainRun.id.desc()).limit(1)).first()
        return None if row is None else RetrainRecord.model_validate(row)


def retrain_runs(store: Store, role: str | None = None, limit: int = 20) -> list[RetrainRecord]:
    """Newest first."""
    query = select(RetrainRun).order_by(RetrainRun.id.desc()).limit(limit)
    if role is not None:
        query = query.where(RetrainRun.role == role)
    with store.session() as session:
        return [RetrainRecord.model_validate(r) for r in session.scalars(query)]
