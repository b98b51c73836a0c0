"""LangGraph checkpoints: where they live, and removing them once a thread no longer needs them.

A thread's checkpoints let a killed run continue it and a reviewer resume it.
Once its trajectory is final they serve nothing (a rerun skips the prompt by
the store), so they go by the spec's `checkpoints` policy: keep none, the last
one, or all of them for some days. Threads with no final trajectory (waiting
for a human, or left mid-way by a crash) always keep theirs. Every removal runs
under the thread's lease, so pruning beside a live run never touches a thread
that a runner or a reviewer is working on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from oversight.errors import OversightError
from oversight.graph.spec import CheckpointSpec
from oversight.graph.threads import run_of, thread_lease

if TYPE_CHECKING:
    from oversight.settings import Settings
    from oversight.store import Store


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[Any]:
    """SQLite beside the data folder by default; PostgreSQL when the database URL is one."""
    url = settings.database_url
    if url.startswith(("postgresql", "postgres")):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as exc:
            raise OversightError(f"PostgreSQL checkpoints need pip install 'oversight[postgres]' ({exc})") from exc
        from sqlalchemy.engine import make_url

        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with ConnectionPool(conninfo, max_size=16, kwargs={
                "autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}) as pool:
            saver = PostgresSaver(pool)  # type: ignore[arg-type]
            saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.ensure_home()
    conn = sqlite3.connect(str(settings.checkpoint_path), check_same_thread=False, timeout=60)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def count_checkpoints(checkpointer: Any, thread: str) -> int:
    return sum(1 for _ in checkpointer.list({"configurable": {"thread_id": thread}}))


def delete_thread_checkpoints(checkpointer: Any, thread_ids: Iterable[str]) -> int:
    """Delete every checkpoint (and pending write) of these threads; returns how many checkpoints went.

    The caller decides that the threads are finished (`store purge`, retention):
    this removes what LangGraph would need to continue or resume them.
    """
    removed = 0
    for thread in thread_ids:
        removed += count_checkpoints(checkpointer, thread)
        checkpointer.delete_thread(thread)
    return removed


def keep_last_checkpoint(checkpointer: Any, thread: str) -> int:
    """Delete all but the latest checkpoint of a thread (per namespace); returns how many went."""
    before = count_checkpoints(checkpointer, thread)
    if before <= 1:
        return 0
    conn = getattr(checkpointer, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        latest = "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? GROUP BY checkpoint_ns"
        with checkpointer.cursor() as cur:  # holds the saver's lock; commits at the end
            cur.execute(f"DELETE FROM writes WHERE thread_id = ? AND checkpoint_id NOT IN ({latest})",
                        (thread, thread))
            cur.execute(f"DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id NOT IN ({latest})",
                        (thread, thread))
    else:
        try:
            checkpointer.prune([thread], strategy="keep_latest")
        except NotImplementedError:
            raise OversightError(f"{type(checkpointer).__name__} cannot keep only the last checkpoint; "
                                 "set checkpoints.keep to none or all") from None
    return before - count_checkpoints(checkpointer, thread)


def retire_thread(checkpointer: Any, thread: str, policy: CheckpointSpec) -> int:
    """Apply the retention policy to a thread whose trajectory just became final."""
    if checkpointer is None or policy.keep == "all":
        return 0
    if policy.keep == "last":
        return keep_last_checkpoint(checkpointer, thread)
    return delete_thread_checkpoints(checkpointer, [thread])


@dataclass
class PruneReport:
    """What `prune_checkpoints` did, thread by thread."""

    threads_seen: int = 0
    threads_pruned: int = 0
    checkpoints_removed: int = 0
    kept_unfinished: int = 0
    kept_busy: int = 0
    kept_recent: int = 0
    pruned: list[str] = field(default_factory=list)


def latest_per_thread(checkpointer: Any) -> dict[str, Any]:
    """The newest checkpoint tuple of every thread (LangGraph lists newest first)."""
    latest: dict[str, Any] = {}
    for item in checkpointer.list(None):
        thread = item.config["configurable"]["thread_id"]
        if item.config["configurable"].get("checkpoint_ns", "") == "" and thread not in latest:
            latest[thread] = item
    return latest


def prune_checkpoints(checkpointer: Any, store: Store, policy: CheckpointSpec,
                      now: datetime | None = None) -> PruneReport:
    """Apply the policy to every thread whose trajectory is final; safe beside a live run.

    With keep: all, only finished threads whose last checkpoint is older than
    `policy.days` lose their checkpoints. A thread whose lease is held (a
    runner or a reviewer on it) is left for the next prune.
    """
    from oversight.store import get_trajectory
    from oversight.store.leases import default_holder, release, try_acquire

    now = now or datetime.now(timezone.utc)
    report = PruneReport()
    holder = default_holder()
    for thread, item in latest_per_thread(checkpointer).items():
        report.threads_seen += 1
        values = item.checkpoint.get("channel_values", {})
        prompt_id = values.get("prompt_id")
        stored = get_trajectory(store, run_of(thread, values), prompt_id) if prompt_id else None
        if stored is None or stored.status != "done":
            report.kept_unfinished += 1
            continue
        if policy.keep == "all":
            written = datetime.fromisoformat(item.checkpoint["ts"])
            if now - written < timedelta(days=policy.days):
                report.kept_recent += 1
                continue
        if try_acquire(store, thread_lease(thread), holder, ttl_s=60) is None:
            report.kept_busy += 1
            continue
        try:
            removed = (keep_last_checkpoint(checkpointer, thread) if policy.keep == "last"
                       else delete_thread_checkpoints(checkpointer, [thread]))
        finally:
            release(store, thread_lease(thread), holder)
        if removed:
            report.threads_pruned += 1
            report.checkpoints_removed += removed
            report.pruned.append(thread)
    return report
