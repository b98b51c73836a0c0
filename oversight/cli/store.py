"""`store copy` / `store purge`: move the store to another database; delete a run's or a period's data."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from oversight.settings import Settings

COPY_EXAMPLE = "example: python -m oversight.run store copy --to postgresql+psycopg://me@db/oversight"
PURGE_EXAMPLE = "example: python -m oversight.run store purge --before 2026-11-01 --dry-run"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help=f"copy the store to another database, or purge old data ({COPY_EXAMPLE})",
                       description="Operate on the store named by OVERSIGHT_DATABASE_URL.")
    ssub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    copy = ssub.add_parser(
        "copy", help=f"copy runs, trajectories, pairs, the review queue and the registry to another URL "
                     f"({COPY_EXAMPLE})",
        description="Copy every row (runs, trajectories with candidates, critiques and judgments, preference "
                    "pairs, review items and decisions, the model registry, retrain records; not leases) to "
                    "another database URL, migrating it first, and compare the counts before committing. A "
                    f"non-empty target is refused unless --force replaces its rows. {COPY_EXAMPLE}")
    copy.add_argument("--to", required=True, metavar="URL", help="SQLAlchemy URL of the target database")
    copy.add_argument("--force", action="store_true", help="replace the rows a non-empty target holds")
    copy.set_defaults(run=run_copy)
    purge = ssub.add_parser(
        "purge", help=f"delete a run's or a period's trajectories, pairs and checkpoints ({PURGE_EXAMPLE})",
        description="Delete trajectories (prompts are user data) with their candidates, critiques, judgments, "
                    "preference pairs, review items and LangGraph checkpoints, for one run or for everything "
                    "created in [--after, --before). Refuses, deleting nothing, when a selected prompt still "
                    "waits for a review or a selected pair trained the active model version. "
                    f"{PURGE_EXAMPLE}")
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", dest="run_id", metavar="ID", help="the run whose data goes")
    which.add_argument("--before", metavar="DATE", help="data created before this date (YYYY-MM-DD[THH:MM], UTC)")
    purge.add_argument("--after", metavar="DATE", help="with --before: only data created at or after this date")
    purge.add_argument("--dry-run", action="store_true", help="say what would go, delete nothing")
    purge.set_defaults(run=run_purge)


def run_copy(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm.auto import tqdm

    from oversight.store import Store
    from oversight.store.copy import copy_store, row_counts

    source = Store.open(settings)
    target = Store(args.to)
    total = sum(row_counts(source).values())
    with tqdm(total=total, desc="copying rows", unit="row", disable=total < 5000) as bar:
        report = copy_store(source, target, force=args.force, on_rows=lambda _t, n: bar.update(n))
    for name, n in report.rows.items():
        print(f"  {name:<18} {n:>8}")
    replaced = f" (replaced {report.replaced} rows it held)" if report.replaced else ""
    print(f"copied {report.total} rows from {source.safe_url} to {target.safe_url}{replaced}; counts match")
    print(f"use it: export OVERSIGHT_DATABASE_URL='{target.safe_url}'")
    _checkpoint_note(source)
    target.dispose()
    source.dispose()
    return 0


def _checkpoint_note(source: Any) -> None:
    from oversight.store.status import queue_status

    waiting = queue_status(source).open_items
    if waiting:
        print(f"note: {waiting} review item(s) are open; their graph threads' checkpoints stay with the old "
              "store's checkpointer, so resume them there before switching")


def run_purge(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.errors import OversightError
    from oversight.graph.checkpoints import delete_thread_checkpoints, open_checkpointer
    from oversight.graph.threads import run_lease, thread_id
    from oversight.store import Store
    from oversight.store.leases import default_holder, release, try_acquire
    from oversight.store.purge import purge

    if args.after and not args.before:
        raise OversightError("--after needs --before (for one run use --run ID)")
    before, after = _date(args.before, "--before"), _date(args.after, "--after")
    store = Store.open(settings)
    holder = default_holder()
    if args.run_id and not args.dry_run and try_acquire(store, run_lease(args.run_id), holder, ttl_s=300) is None:
        raise OversightError(f"run {args.run_id!r} is in progress (its run lease is held); purge it when it has ended")
    try:
        report = purge(store, run_id=args.run_id, before=before, after=after, dry_run=args.dry_run)
        checkpoints = 0
        if report.threads and not args.dry_run:
            with open_checkpointer(settings) as saver:
                checkpoints = delete_thread_checkpoints(saver, [thread_id(r, p) for r, p in report.threads])
    finally:
        if args.run_id and not args.dry_run:
            release(store, run_lease(args.run_id), holder)
    scope = f"run {args.run_id}" if args.run_id else f"data created before {before:%Y-%m-%d %H:%M}" + (
        f" and from {after:%Y-%m-%d %H:%M}" if after else "") + " UTC"
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{scope}: {verb} {report.runs} run(s), {report.trajectories} trajectories, {report.pairs} preference "
          f"pair(s), {report.review_items} review item(s)"
          + ("" if args.dry_run else f", {checkpoints} checkpoint(s)"))
    return 0


def _date(text: str | None, flag: str) -> datetime | None:
    from oversight.errors import OversightError

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise OversightError(f"{flag} {text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
