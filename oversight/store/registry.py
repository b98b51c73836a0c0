"""The model registry: trained adapters and heads, their provenance, and which one each role uses.

A version is a candidate (trained, not in use), the role's active one, or
retired (it was active once). At most one version per role is active: every
switch happens inside one transaction (the old active one retires in the same
commit that activates the new one), and on SQLite and PostgreSQL a partial
unique index also guards it, so two trainers finishing at once cannot both win
and a crash at any point leaves exactly the old or the new version active.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from oversight.errors import OversightError
from oversight.store._util import retrying
from oversight.store.db import Store
from oversight.store.records import VersionRecord
from oversight.store.tables import STARTED_FROM, VERSION_KINDS, VERSION_STATUSES, ModelVersion, utcnow


def register_version(store: Store, role: str, kind: str, path: str, base_model: str,
                     metrics: dict[str, Any] | None = None,
                     constitution_hash: str | None = None, activate: bool = True,
                     notes: str | None = None, parent_id: int | None = None, *,
                     algorithm: str | None = None, recipe: dict[str, Any] | None = None,
                     dataset: dict[str, Any] | None = None, started_from: str | None = None) -> int:
    """Add a trained version: the role's active one by default, a candidate with activate=False.

    A parent must exist and run on the same base model: an adapter continued
    from another model's adapter would not load.
    """
    if kind not in VERSION_KINDS:
        raise OversightError(f"model version kind must be one of {', '.join(VERSION_KINDS)} "
                             f"(received {kind!r})")
    if started_from is not None and started_from not in STARTED_FROM:
        raise OversightError(f"started_from must be one of {', '.join(STARTED_FROM)} (received {started_from!r})")

    def work() -> int:
        with store.session() as session:
            if parent_id is not None:
                parent = session.get(ModelVersion, parent_id)
                if parent is None:
                    raise OversightError(f"no model version {parent_id} (given as parent)")
                _same_base(parent, base_model, f"parent version {parent_id}")
            previous = _retire_active(session, role) if activate else None
            row = ModelVersion(role=role, kind=kind, path=str(path), base_model=base_model,
                               metrics_json=dict(metrics or {}), constitution_hash=constitution_hash,
                               status="active" if activate else "candidate", notes=notes,
                               parent_id=parent_id, algorithm=algorithm, recipe_json=dict(recipe or {}),
                               dataset_json=dict(dataset or {}), started_from=started_from,
                               activated_at=utcnow() if activate else None, previous_id=previous)
            session.add(row)
            session.flush()
            return row.id

    return retrying(work)


def activate(store: Store, version_id: int) -> VersionRecord:
    """Make any version (candidate or retired) its role's active one; the old active one retires."""
    return retrying(lambda: _switch(store, version_id, allowed=VERSION_STATUSES))


def promote(store: Store, version_id: int, *, base_model: str | None = None,
            gate: dict[str, Any] | None = None) -> VersionRecord:
    """Make a candidate active (atomically retiring the old active one), recording the gate's figures.

    `base_model`, when given, is the model the role runs now: a version trained
    on another model is refused rather than loaded onto the wrong weights.
    """
    return retrying(lambda: _switch(store, version_id, allowed=("candidate",), base_model=base_model, gate=gate))


def rollback(store: Store, role: str) -> VersionRecord:
    """Bring back the version that was active before the current one; the current one retires."""

    def work() -> VersionRecord:
        with store.session() as session:
            _lock_role(session, role)
            current = _active_row(session, role)
            if current is None:
                raise OversightError(f"role {role!r} has no active version to roll back from")
            if current.previous_id is None:
                raise OversightError(f"version {current.id} was the first active version of {role!r}; there is "
                                     f"nothing to roll back to (`models retire {current.id}` runs the bare model)")
            previous = session.get(ModelVersion, current.previous_id, with_for_update=True)
            if previous is None:  # pragma: no cover - the foreign key nulls previous_id on delete
                raise OversightError(f"version {current.previous_id} no longer exists")
            current.status = "retired"
            session.flush()
            previous.status = "active"
            previous.activated_at = utcnow()
            session.flush()
            return VersionRecord.model_validate(previous)

    return retrying(work)


def retire(store: Store, version_id: int) -> VersionRecord:
    """Take a version out of use (a candidate not worth keeping, or the active one: its role runs bare)."""
    with store.session() as session:
        row = _get(session, version_id)
        if row.status == "retired":
            raise OversightError(f"version {version_id} is already retired")
        row.status = "retired"
        session.flush()
        return VersionRecord.model_validate(row)


def deactivate(store: Store, role: str) -> int:
    """Send a role back to its base model; returns how many versions were switched off."""
    with store.session() as session:
        return int(_retire_active(session, role) is not None)


def set_gate(store: Store, version_id: int, figures: dict[str, Any]) -> None:
    """Record the gate's verdict and figures on a version (passed or not)."""
    with store.session() as session:
        _get(session, version_id).gate_json = dict(figures)


def delete_retired(store: Store, role: str, keep: int) -> list[VersionRecord]:
    """Remove the rows of retired versions beyond the newest `keep`; returns them so the caller deletes files.

    Never an active version or a candidate; the version the active one would roll back to is kept too.
    """
    if keep < 0:
        raise OversightError(f"the number of retired versions to keep must be 0 or more (received {keep})")
    with store.session() as session:
        active = _active_row(session, role)
        rows = list(session.scalars(select(ModelVersion).where(
            ModelVersion.role == role, ModelVersion.status == "retired").order_by(ModelVersion.id.desc())))
        spare = active.previous_id if active is not None else None
        doomed = [r for r in rows if r.id != spare][keep:]
        records = [VersionRecord.model_validate(r) for r in doomed]
        if doomed:
            session.execute(delete(ModelVersion).where(ModelVersion.id.in_([r.id for r in doomed])))
        return records


def active_version(store: Store, role: str) -> VersionRecord | None:
    with store.session() as session:
        row = _active_row(session, role)
        return None if row is None else VersionRecord.model_validate(row)


def get_version(store: Store, version_id: int) -> VersionRecord | None:
    with store.session() as session:
        row = session.get(ModelVersion, version_id)
        return None if row is None else VersionRecord.model_validate(row)


def require_version(store: Store, version_id: int) -> VersionRecord:
    """The version, or a one-line error naming the missing id."""
    with store.session() as session:
        return VersionRecord.model_validate(_get(session, version_id))


def list_versions(store: Store, role: str | None = None, status: str | None = None) -> list[VersionRecord]:
    """Versions oldest first, optionally of one role and one status."""
    query = select(ModelVersion).order_by(ModelVersion.id)
    if role is not None:
        query = query.where(ModelVersion.role == role)
    if status is not None:
        query = query.where(ModelVersion.status == status)
    with store.session() as session:
        return [VersionRecord.model_validate(row) for row in session.scalars(query)]


def _switch(store: Store, version_id: int, allowed: tuple[str, ...], base_model: str | None = None,
            gate: dict[str, Any] | None = None) -> VersionRecord:
    with store.session() as session:
        row = session.get(ModelVersion, version_id, with_for_update=True)
        if row is None:
            raise OversightError(f"no model version {version_id}")
        if row.status == "active":
            return VersionRecord.model_validate(row)
        if row.status not in allowed:
            raise OversightError(f"version {version_id} is {row.status}; only a candidate can be promoted "
                                 f"(`models rollback {row.role}` brings back the previous active version)")
        if base_model is not None:
            _same_base(row, base_model, f"the model role {row.role!r} runs")
        previous = _retire_active(session, row.role)
        if previous is not None:
            row.previous_id = previous
        row.status = "active"
        row.activated_at = utcnow()
        if gate is not None:
            row.gate_json = dict(gate)
        session.flush()
        return VersionRecord.model_validate(row)


def _same_base(row: ModelVersion, base_model: str, other: str) -> None:
    if row.base_model != base_model:
        raise OversightError(f"version {row.id} was trained on {row.base_model}, but {other} is {base_model}: "
                             "an adapter only fits the model it was trained on")


def _get(session: Session, version_id: int) -> ModelVersion:
    row = session.get(ModelVersion, version_id, with_for_update=True)
    if row is None:
        raise OversightError(f"no model version {version_id}")
    return row


def _active_row(session: Session, role: str) -> ModelVersion | None:
    return session.scalars(select(ModelVersion).where(
        ModelVersion.role == role, ModelVersion.status == "active")).first()


def _lock_role(session: Session, role: str) -> None:
    """Serialise switches of one role: on PostgreSQL a transaction-scoped advisory lock (SQLite's
    BEGIN IMMEDIATE already serialises writers), so concurrent promotions queue instead of colliding."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"model_versions:{role}"})


def _retire_active(session: Session, role: str) -> int | None:
    """Retire the role's active version, if any; returns its id."""
    _lock_role(session, role)
    current = _active_row(session, role)
    if current is None:
        return None
    current.status = "retired"
    # Flush the switch-off before anything turns a version on (partial unique index).
    session.flush()
    return current.id
