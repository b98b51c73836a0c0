"""The review queue's append-only audit log: who did what to which item, when, before and after.

Rows are only ever inserted (a database trigger refuses UPDATE and DELETE), and every
state change of the queue writes its row in the same transaction as the change itself,
so the log can neither miss an action nor record one that was rolled back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from oversight.store.db import Store
from oversight.store.tables import AuditEntry, ReviewItem, utcnow


class AuditRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    item_id: int | None
    before_json: dict[str, Any] | None = Field(default=None)
    after_json: dict[str, Any] | None = Field(default=None)
    detail: str


def snapshot(row: ReviewItem) -> dict[str, Any]:
    """The parts of an item an audit entry compares before and after."""
    return {"status": row.status, "claimed_by": row.claimed_by,
            "lease_expires_at": row.lease_expires_at.isoformat() if row.lease_expires_at else None,
            "decision": row.decision_json, "reviewer": row.reviewer, "timed_out": row.timed_out}


def write_audit(session: Session, actor: str, action: str, item_id: int | None = None,
                before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                detail: str = "", at: datetime | None = None) -> None:
    """Add one entry inside the caller's transaction."""
    session.add(AuditEntry(at=at or utcnow(), actor=actor, action=action, item_id=item_id,
                           before_json=before, after_json=after, detail=detail))


def append_audit(store: Store, actor: str, action: str, item_id: int | None = None,
                 before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                 detail: str = "") -> None:
    """Add one entry in its own transaction (actions that change no item: user management)."""
    with store.session() as session:
        write_audit(session, actor, action, item_id, before, after, detail)


def read_audit(store: Store, *, item_id: int | None = None, actor: str | None = None,
               limit: int | None = 200) -> list[AuditRow]:
    """Entries newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if item_id is not None:
        query = query.where(AuditEntry.item_id == item_id)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [AuditRow.model_validate(r) for r in session.scalars(query)]
