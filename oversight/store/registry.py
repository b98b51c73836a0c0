"""The model registry: trained adapters and heads, and which one each role uses.

At most one version per role is active. `activate` switches inside one
transaction; on SQLite and PostgreSQL a partial unique index also guards it, so
two trainers finishing at once cannot both win.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oversight.errors import OversightError
from oversight.store._util import retrying
from oversight.store.db import Store
from oversight.store.records import VersionRecord
from oversight.store.tables import VERSION_KINDS, ModelVersion


def register_version(store: Store, role: str, kind: str, path: str, base_model: str,
                     metrics: dict[str, Any] | None = None,
                     constitution_hash: str | None = None, activate: bool = True,
                     notes: str | None = None, parent_id: int | None = None) -> int:
    """Add a trained version; by default it becomes the role's active one."""
    if kind not in VERSION_KINDS:
        raise OversightError(f"model version kind must be one of {', '.join(VERSION_KINDS)} "
                             f"(received {kind!r})")

    def work() -> int:
        with store.session() as session:
            if parent_id is not None and session.get(ModelVersion, parent_id) is None:
                raise OversightError(f"no model version {parent_id} (given as parent)")
            if activate:
                _deactivate_role(session, role)
            row = ModelVersion(role=role, kind=kind, path=str(path), base_model=base_model,
                               metrics_json=dict(metrics or {}),
                               constitution_hash=constitution_hash, active=activate,
                               notes=notes, parent_id=parent_id)
            session.add(row)
            session.flush()
            return row.id

    return retrying(work)


def activate(store: Store, version_id: int) -> VersionRecord:
    """Make this version its role's active one, deactivating the others."""

    def work() -> VersionRecord:
        with store.session() as session:
            row = session.get(ModelVersion, version_id, with_for_update=True)
            if row is None:
                raise OversightError(f"no model version {version_id}")
            _deactivate_role(session, row.role, keep=row.id)
            row.active = True
            session.flush()
            return VersionRecord.model_validate(row)

    return retrying(work)


def deactivate(store: Store, role: str) -> int:
    """Send a role back to its base model; returns how many versions were switched off."""
    with store.session() as session:
        return _deactivate_role(session, role)


def active_version(store: Store, role: str) -> VersionRecord | None:
    with store.session() as session:
        row = session.scalars(select(ModelVersion).where(
            ModelVersion.role == role, ModelVersion.active.is_(True))).first()
        return None if row is None else VersionRecord.model_validate(row)


def get_version(store: Store, version_id: int) -> VersionRecord | None:
    with store.session() as session:
        row = session.get(ModelVersion, version_id)
        return None if row is None else VersionRecord.model_validate(row)


def list_versions(store: Store, role: str | None = None) -> list[VersionRecord]:
    """Versions oldest first, optionally of one role."""
    query = select(ModelVersion).order_by(ModelVersion.id)
    if role is not None:
        query = query.where(ModelVersion.role == role)
    with store.session() as session:
        return [VersionRecord.model_validate(row) for row in session.scalars(query)]


def _deactivate_role(session: Session, role: str, keep: int | None = None) -> int:
    query = update(ModelVersion).where(ModelVersion.role == role,
                                       ModelVersion.active.is_(True))
    if keep is not None:
        query = query.where(ModelVersion.id != keep)
    count = session.execute(query.values(active=False)).rowcount
    # Flush the switch-off before anything turns a version on (partial unique index).
    session.flush()
    return count
