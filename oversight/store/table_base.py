"""The shared ground of the store's tables: vocabularies, UTC timestamps, the declarative base.

Split from `tables.py` so the review tables (`review_tables.py`) and the others can live in
modules small enough to read; `tables.py` re-exports everything, so callers import from there.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
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
