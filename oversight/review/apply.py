"""Applying recorded decisions: resume each paused graph thread, then label the pairs.

Record first, apply later: a decision is stored as `decided` before any graph work,
so a crash in between leaves it visible and `review apply` (or the server's worker)
finishes it. Only one process resumes a thread at a time (the graph's thread lease), and an item
whose thread already finished (a crash after the resume, before the mark) is marked
applied without resuming twice; `applied_at` is set only once the pairs are labelled. The caller provides the `Resumer`: review/ does not
build models (cli/review.py does, from the run's record).
"""

from __future__ import annotations

from typing import Any, Protocol

from oversight.errors import OversightError
from oversight.review.decisions import chosen_index
from oversight.review.models import ApplyOutcome
from oversight.store import PreferenceRecord, Store, add_preference_pair, get_review, get_trajectory, mark_applied
from oversight.store.claims import note_apply
from oversight.store.leases import LeaseHeld
from oversight.store.queue import finish_applied, unfinished_reviews
from oversight.store.records import ReviewRecord
from oversight.store.review_reads import item_decisions
from oversight.store.review_pairs import annotate_human_pairs, drop_human_pairs, human_pairs_of

class Resumer(Protocol):
    """Resumes the item's paused thread with the decision (graph.runner.resume underneath).

    Returns the runner's result (anything with `status` and `final_response`).
    """

    def __call__(self, item: ReviewRecord, decision: dict[str, Any]) -> Any: ...


def _finished(store: Store, item: ReviewRecord) -> bool:
    """The thread is past this item: its trajectory is done or a later round was queued."""
    from oversight.store import get_review_by_thread

    latest = get_review_by_thread(store, item.thread_id)
    if latest is not None and latest.round > item.round:
        return True
    stored = get_trajectory(store, item.run_id, item.prompt_id)
    return stored is not None and stored.status == "done"


def label_pairs(store: Store, item: ReviewRecord) -> int:
    """Reviewer, time and principles on the human pairs; extra pairs from a ranking."""
    decision = item.decision_json or {}
    stored = get_trajectory(store, item.run_id, item.prompt_id)
    if stored is None or stored.id is None:
        return 0
    if item.timed_out:
        drop_human_pairs(store, stored.id)
        return 0
    mine = [d for d in item_decisions(store, item.id) if d.reviewer == item.reviewer]
    seconds = mine[-1].seconds if mine else None
    texts = [c.text for c in stored.candidates]
    marks: dict[str, list[str]] = {}
    for index, ids in (decision.get("violations") or {}).items():
        if int(index) < len(texts):
            marks.setdefault(texts[int(index)], []).extend(ids)
    ranking = [i for i in decision.get("ranking") or [] if i < len(texts)]
    hash_ = str(stored.extra_json.get("constitution_hash") or item.constitution_hash or "")
    for pos, better in enumerate(ranking):
        for worse in ranking[pos + 1:]:
            if texts[better] != texts[worse]:
                add_preference_pair(store, PreferenceRecord(
                    prompt=stored.prompt, chosen=texts[better], rejected=texts[worse], probability=1.0,
                    source="human", constitution_hash=hash_), trajectory_id=stored.id)
    return annotate_human_pairs(store, stored.id, item.reviewer or "unknown", seconds,
                                lambda rejected: sorted(set(marks.get(rejected, []))))


def apply_one(store: Store, item: ReviewRecord, resume: Resumer) -> ApplyOutcome | None:
    """Apply one decided item; None when another process applied it meanwhile.

    Two appliers never resume one thread together: the graph's resume holds the thread's
    lease (LeaseHeld for the second), and everything after the resume is idempotent.
    """
    current = get_review(store, item.id)
    if current is None or not (current.status == "decided" or (
            current.status == "applied" and current.applied_at is None)):
        return None
    final = None
    if current.status == "decided" and not _finished(store, current):
        try:
            result = resume(current, dict(current.decision_json or {}))
        except LeaseHeld as exc:  # another process is resuming it, or one that died holds it a while
            return ApplyOutcome(item_id=current.id, thread_id=current.thread_id, ok=False,
                                status="decided", error=f"{exc}; try again later")
        except OversightError as exc:
            again = get_review(store, current.id)
            if again is not None and again.status == "applied":
                return None  # someone else finished it while we tried
            note_apply(store, current.id, str(exc))
            return ApplyOutcome(item_id=current.id, thread_id=current.thread_id, ok=False,
                                status="decided", error=str(exc))
        final = getattr(result, "final_response", None)
    mark_applied(store, current.id)
    pairs = label_pairs(store, current)
    finish_applied(store, current.id)
    note_apply(store, current.id, None)
    if final is None:
        stored = get_trajectory(store, current.run_id, current.prompt_id)
        final = stored.final_response if stored is not None else None
    return ApplyOutcome(item_id=current.id, thread_id=current.thread_id, ok=True, status="applied",
                        final_response=final, human_pairs=pairs)


def apply_decided(store: Store, resume: Resumer, *, item_id: int | None = None,
                  limit: int | None = None) -> list[ApplyOutcome]:
    """Apply every decided item (or one), oldest first; failures are reported, not raised."""
    if item_id is not None:
        item = get_review(store, item_id)
        if item is None:
            raise OversightError(f"no review item {item_id}")
        if item.status != "decided" and not (item.status == "applied" and item.applied_at is None):
            raise OversightError(f"review item {item_id} is {item.status}; only decided items are applied")
        items = [item]
    else:
        items = unfinished_reviews(store, limit=limit)
    return [o for o in (apply_one(store, it, resume) for it in items) if o is not None]


def human_pairs_for(store: Store, item: ReviewRecord) -> list[PreferenceRecord]:
    """The human pairs stored for an item's trajectory (tests and `review show`)."""
    stored = get_trajectory(store, item.run_id, item.prompt_id)
    return [] if stored is None or stored.id is None else human_pairs_of(store, stored.id)


__all__ = ["Resumer", "apply_decided", "apply_one", "chosen_index", "human_pairs_for", "label_pairs"]
