"""Runs and trajectories: what the graph did, written once per prompt.

`save_trajectory` is idempotent on (run_id, prompt_id) so that a run resumed
after a crash rewrites a prompt rather than duplicating it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from oversight.errors import OversightError
from oversight.store._util import retrying
from oversight.store.db import Store
from oversight.store.records import PreferenceRecord, RunRecord, TrajectoryRecord
from oversight.store.tables import (
    ROUTES,
    RUN_KINDS,
    TRAJECTORY_STATUSES,
    Candidate,
    Critique,
    Judgment,
    PreferencePair,
    Run,
    Trajectory,
    sha256,
    utcnow,
)


def ensure_run(store: Store, run_id: str | None, *, graph_name: str, graph_hash: str,
               constitution_name: str, constitution_hash: str,
               roles: dict[str, Any] | None = None, status: str = "running",
               kind: str = "production") -> str:
    """Create the run if new and return its id; refuse to reuse an id with other settings.

    Resuming mixes old and new trajectories under one id, which is only
    meaningful when the graph and constitution are the same; a run keeps its
    kind (production, eval, calibration, datagen: `RUN_KINDS`).
    """
    run_id = run_id or uuid.uuid4().hex
    if kind not in RUN_KINDS:
        raise OversightError(f"run kind must be one of {', '.join(RUN_KINDS)}, got {kind!r}")

    def work() -> str:
        with store.session() as session:
            run = session.get(Run, run_id)
            if run is None:
                session.add(Run(id=run_id, graph_name=graph_name, graph_hash=graph_hash,
                                constitution_name=constitution_name,
                                constitution_hash=constitution_hash,
                                roles_json=roles or {}, status=status, kind=kind))
                return run_id
            changed = [name for name, old, new in (
                ("graph", run.graph_hash, graph_hash),
                ("constitution", run.constitution_hash, constitution_hash),
                ("kind", run.kind, kind)) if old != new]
            if changed:
                raise OversightError(
                    f"run id {run_id!r} was already used with other settings "
                    f"(different {' and '.join(changed)}: {run.graph_name} / "
                    f"{run.constitution_name}); choose a new run id")
            return run_id

    return retrying(work)


def get_run(store: Store, run_id: str) -> RunRecord | None:
    with store.session() as session:
        run = session.get(Run, run_id)
        return None if run is None else RunRecord.model_validate(run)


def set_run_status(store: Store, run_id: str, status: str) -> None:
    """Mark a run finished, failed, ...; unknown id -> OversightError."""
    with store.session() as session:
        if session.execute(update(Run).where(Run.id == run_id)
                           .values(status=status)).rowcount == 0:
            raise OversightError(f"no run named {run_id!r}")


def save_trajectory(store: Store, record: TrajectoryRecord) -> int:
    """Write (or atomically rewrite) one prompt's trajectory; returns its row id."""
    return retrying(lambda: _save(store, record))


def _save(store: Store, record: TrajectoryRecord) -> int:
    now = utcnow()
    with store.session() as session:
        if session.get(Run, record.run_id) is None:
            raise OversightError(f"no run named {record.run_id!r}; call ensure_run first")
        row = session.scalars(
            select(Trajectory).where(Trajectory.run_id == record.run_id,
                                     Trajectory.prompt_id == record.prompt_id)
            .with_for_update()).one_or_none()
        if row is None:
            row = Trajectory(run_id=record.run_id, prompt_id=record.prompt_id, created_at=now)
            session.add(row)
        fields = record.model_dump(include={
            "prompt", "final_response", "route", "route_reason", "status",
            "safety_json", "notices_json", "extra_json"})
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = now
        session.flush()
        kept = _clear_children(session, row.id)
        _write_children(session, row.id, record, kept)
        return row.id


def _clear_children(session: Session, trajectory_id: int) -> set[tuple[str, str, str]]:
    """Delete a trajectory's children; return keys of pairs kept because a model used them."""
    session.execute(delete(Candidate).where(Candidate.trajectory_id == trajectory_id))
    session.execute(delete(Judgment).where(Judgment.trajectory_id == trajectory_id))
    session.execute(delete(PreferencePair).where(
        PreferencePair.trajectory_id == trajectory_id,
        PreferencePair.used_in_version_id.is_(None)))
    used = session.execute(
        select(PreferencePair.source, PreferencePair.chosen_sha, PreferencePair.rejected_sha)
        .where(PreferencePair.trajectory_id == trajectory_id))
    return {(source, chosen, rejected) for source, chosen, rejected in used}


def _write_children(session: Session, trajectory_id: int, record: TrajectoryRecord,
                    skip_pairs: set[tuple[str, str, str]]) -> None:
    seen_index: set[int] = set()
    for cand in record.candidates:
        if cand.index in seen_index:
            raise OversightError(f"trajectory {record.prompt_id!r} has two candidates "
                                 f"with index {cand.index}")
        seen_index.add(cand.index)
        row = Candidate(trajectory_id=trajectory_id, index=cand.index, round=cand.round,
                        text=cand.text, source=cand.source)
        session.add(row)
        session.flush()
        session.add_all(Critique(candidate_id=row.id, **c.model_dump()) for c in cand.critiques)
    session.add_all(Judgment(trajectory_id=trajectory_id, **j.model_dump())
                    for j in record.judgments)
    for pair in record.preference_pairs:
        key = (pair.source, sha256(pair.chosen), sha256(pair.rejected))
        if key in skip_pairs:
            continue
        skip_pairs.add(key)
        session.add(_pair_row(pair, trajectory_id))


def _pair_row(pair: PreferenceRecord, trajectory_id: int | None) -> PreferencePair:
    return PreferencePair(
        trajectory_id=trajectory_id, prompt=pair.prompt, chosen=pair.chosen,
        rejected=pair.rejected, chosen_sha=sha256(pair.chosen),
        rejected_sha=sha256(pair.rejected), probability=pair.probability,
        source=pair.source, principle_id=pair.principle_id,
        constitution_hash=pair.constitution_hash, created_at=pair.created_at or utcnow(),
        reviewer=pair.reviewer, review_seconds=pair.review_seconds, principles_json=pair.principles_json)


def add_preference_pair(store: Store, pair: PreferenceRecord,
                        trajectory_id: int | None = None) -> int:
    """Store one pair outside a trajectory rewrite (e.g. from a reviewer); idempotent."""
    trajectory_id = trajectory_id if trajectory_id is not None else pair.trajectory_id

    def work() -> int:
        with store.session() as session:
            query = select(PreferencePair.id).where(
                PreferencePair.source == pair.source,
                PreferencePair.chosen_sha == sha256(pair.chosen),
                PreferencePair.rejected_sha == sha256(pair.rejected),
                PreferencePair.trajectory_id.is_(None) if trajectory_id is None
                else PreferencePair.trajectory_id == trajectory_id)
            existing = session.scalars(query).first()
            if existing is not None:
                return existing
            row = _pair_row(pair, trajectory_id)
            session.add(row)
            session.flush()
            return row.id

    return retrying(work)


def finished_prompt_ids(store: Store, run_id: str, *, retry_errors: bool = False,
                        statuses: tuple[str, ...] = TRAJECTORY_STATUSES) -> set[str]:
    """Prompts a resumed run can skip; with retry_errors, errored ones run again.

    `statuses=("done",)` leaves out prompts waiting for review, whose graph
    thread the caller checks (a crash can store one before its pause is checkpointed).
    """
    query = select(Trajectory.prompt_id).where(
        Trajectory.run_id == run_id, Trajectory.status.in_(statuses))
    if retry_errors:
        query = query.where(Trajectory.route != "error")
    with store.session() as session:
        return set(session.scalars(query))


def get_trajectory(store: Store, run_id: str, prompt_id: str) -> TrajectoryRecord | None:
    with store.session() as session:
        row = session.scalars(
            select(Trajectory)
            .where(Trajectory.run_id == run_id, Trajectory.prompt_id == prompt_id)
            .options(selectinload(Trajectory.candidates).selectinload(Candidate.critiques),
                     selectinload(Trajectory.judgments),
                     selectinload(Trajectory.preference_pairs))).one_or_none()
        return None if row is None else _to_record(row)


def _to_record(row: Trajectory) -> TrajectoryRecord:
    # Reads the loaded relationships (candidates -> critiques, judgments, pairs) too.
    return TrajectoryRecord.model_validate(row)


def preference_pairs(store: Store, source: str | None = None, unused_only: bool = False,
                     constitution_hash: str | None = None) -> list[PreferenceRecord]:
    """Training material, oldest first, filtered as the trainer asks."""
    query = select(PreferencePair).order_by(PreferencePair.id)
    if source is not None:
        query = query.where(PreferencePair.source == source)
    if unused_only:
        query = query.where(PreferencePair.used_in_version_id.is_(None))
    if constitution_hash is not None:
        query = query.where(PreferencePair.constitution_hash == constitution_hash)
    with store.session() as session:
        return [PreferenceRecord.model_validate(p) for p in session.scalars(query)]


def mark_pairs_used(store: Store, pair_ids: list[int], version_id: int) -> int:
    """Record which model version trained on these pairs; returns rows changed."""
    if not pair_ids:
        return 0
    with store.session() as session:
        result = session.execute(update(PreferencePair)
                                 .where(PreferencePair.id.in_(pair_ids))
                                 .values(used_in_version_id=version_id))
        return result.rowcount


def run_summary(store: Store, run_id: str) -> dict[str, Any]:
    """Counts per route (every route present, zeros included) and per status."""
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise OversightError(f"no run named {run_id!r}")
        rows = session.execute(
            select(Trajectory.route, Trajectory.status, func.count())
            .where(Trajectory.run_id == run_id)
            .group_by(Trajectory.route, Trajectory.status)).all()
    routes: Counter[str] = Counter({route: 0 for route in ROUTES})
    statuses: Counter[str] = Counter({status: 0 for status in TRAJECTORY_STATUSES})
    for route, status, count in rows:
        routes[route] += count
        statuses[status] += count
    return {"run_id": run_id, "status": run.status, "total": sum(routes.values()),
            "routes": dict(routes), "statuses": dict(statuses)}
