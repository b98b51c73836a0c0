"""`graph prune`: remove the LangGraph checkpoints of threads whose trajectory is final.

Runs beside a live run safely (threads a runner or reviewer holds are left for
next time) and reports what it removed. The policy comes from the spec's
`checkpoints` section unless --keep / --days say otherwise.
"""

from __future__ import annotations

import argparse

from oversight.settings import Settings

EXAMPLE = "example: python -m oversight.run graph prune --keep none"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--keep", choices=("none", "last", "all"),
                   help="prune: checkpoints kept per finished thread (default: the spec's checkpoints.keep)")
    p.add_argument("--days", type=float,
                   help="prune with --keep all: drop finished threads older than this (default: the spec's)")


def run_prune(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.graph.checkpoints import open_checkpointer, prune_checkpoints
    from oversight.graph.spec import load_spec
    from oversight.store import Store

    from oversight.errors import OversightError

    if args.days is not None and not 0 < args.days <= 3650:
        raise OversightError(f"--days must be more than 0 and at most 3650, got {args.days:g}")
    spec = load_spec(args.spec, settings.project_dir)
    changes = {k: v for k, v in (("keep", args.keep), ("days", args.days)) if v is not None}
    policy = spec.checkpoints.model_validate({**spec.checkpoints.model_dump(), **changes})
    store = Store.open(settings)
    with open_checkpointer(settings) as saver:
        report = prune_checkpoints(saver, store, policy)
    print(f"checked {report.threads_seen} threads (keep: {policy.keep}"
          + (f", {policy.days:g} days" if policy.keep == "all" else "") + ")")
    print(f"removed {report.checkpoints_removed} checkpoints of {report.threads_pruned} finished threads")
    print(f"kept: {report.kept_unfinished} waiting for review or unfinished, {report.kept_busy} in use, "
          f"{report.kept_recent} finished within the retention time")
    return 0
