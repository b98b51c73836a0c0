"""Persistence: runs, trajectories, preference pairs, review queue, model registry.

Open with `Store.open(settings)`; everything else is a function taking the
store and plain pydantic records, so no ORM object escapes a transaction.
"""

from oversight.store.db import Store
from oversight.store.queue import (
    decided_reviews,
    enqueue_review,
    get_review,
    get_review_by_thread,
    mark_applied,
    pending_reviews,
    record_decision,
)
from oversight.store.records import (
    CandidateRecord,
    CritiqueRecord,
    JudgmentRecord,
    PreferenceRecord,
    ReviewRecord,
    RunRecord,
    TrajectoryRecord,
    VersionRecord,
)
from oversight.store.registry import (
    activate,
    active_version,
    deactivate,
    delete_retired,
    get_version,
    list_versions,
    promote,
    register_version,
    require_version,
    retire,
    rollback,
    set_gate,
)
from oversight.store.trajectories import (
    add_preference_pair,
    ensure_run,
    finished_prompt_ids,
    get_run,
    get_trajectory,
    mark_pairs_used,
    preference_pairs,
    run_summary,
    save_trajectory,
    set_run_status,
)

__all__ = [
    "CandidateRecord", "CritiqueRecord", "JudgmentRecord", "PreferenceRecord", "ReviewRecord",
    "RunRecord", "Store", "TrajectoryRecord", "VersionRecord",
    "activate", "active_version", "add_preference_pair", "deactivate", "decided_reviews",
    "enqueue_review", "ensure_run", "finished_prompt_ids", "get_review", "get_review_by_thread",
    "get_run", "get_trajectory", "get_version", "list_versions", "mark_applied",
    "mark_pairs_used", "pending_reviews", "preference_pairs", "record_decision",
    "register_version", "run_summary", "save_trajectory", "set_run_status",
    "delete_retired", "promote", "require_version", "retire", "rollback", "set_gate",
]
