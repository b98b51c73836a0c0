"""Small helpers shared by the store modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError

T = TypeVar("T")
ATTEMPTS = 4


def retrying(work: Callable[[], T]) -> T:
    """Run one transaction again when a concurrent writer won a race.

    Two writers can both find no row and both insert; the loser's unique
    violation (or a PostgreSQL serialization/deadlock failure) is safe to
    retry because `work` opens a fresh transaction and looks again.
    """
    for attempt in range(ATTEMPTS):
        try:
            return work()
        except (IntegrityError, OperationalError) as exc:
            if attempt == ATTEMPTS - 1 or not _retryable(exc):
                raise
    raise AssertionError("unreachable")


def _retryable(exc: IntegrityError | OperationalError) -> bool:
    if isinstance(exc, IntegrityError):
        return "unique" in str(exc.orig).lower() or "duplicate" in str(exc.orig).lower()
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in ("40001", "40P01")
