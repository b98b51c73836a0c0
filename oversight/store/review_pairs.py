"""Human preference pairs from the review queue: who decided, how long it took, principles marked.

The graph writes the reviewer's choice as pairs when the resumed thread persists;
the review side then adds what only it knows (reviewer, seconds, principles marked
on the rejected answer) and the extra pairs a ranking implies.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, select

from oversight.store.db import Store
from oversight.store.records import PreferenceRecord
from oversight.store.tables import PreferencePair


def annotate_human_pairs(store: Store, trajectory_id: int, reviewer: str, seconds: float | None,
                         principles_of: Callable[[str], list[str]]) -> int:
    """Stamp the trajectory's human pairs; `principles_of(rejected text)` gives the marks. Returns the count."""
    with store.session() as session:
        rows = list(session.scalars(select(PreferencePair).where(
            PreferencePair.trajectory_id == trajectory_id, PreferencePair.source == "human")))
        for row in rows:
            row.reviewer, row.review_seconds = reviewer, seconds
            row.principles_json = principles_of(row.rejected) or None
        return len(rows)


def drop_human_pairs(store: Store, trajectory_id: int) -> int:
    """Remove human pairs of a trajectory no person decided (a deadline refusal)."""
    with store.session() as session:
        return session.execute(delete(PreferencePair).where(
            PreferencePair.trajectory_id == trajectory_id, PreferencePair.source == "human")).rowcount


def human_pairs_of(store: Store, trajectory_id: int) -> list[PreferenceRecord]:
    with store.session() as session:
        return [PreferenceRecord.model_validate(r) for r in session.scalars(select(PreferencePair).where(
            PreferencePair.trajectory_id == trajectory_id, PreferencePair.source == "human")
            .order_by(PreferencePair.id))]
