"""`retrain`: the cron job that retrains the base model and promotes it only past the gate."""

from __future__ import annotations

import argparse

from oversight.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "retrain", help="retrain the base model from new trajectories, gated (example: retrain --dry-run)",
        description="Export resolved trajectories, train a candidate base adapter, evaluate it against the active "
                    "version and promote it only when the gate passes. One at a time (store lease). Exit status: "
                    "0 promoted or nothing to do, 1 the candidate failed the gate, 2 bad input or error, "
                    "3 another retrain is running. Example: python -m oversight.run retrain --set eval.limit=16")
    p.add_argument("--dry-run", action="store_true", help="say what it would do, change nothing")
    p.add_argument("--force", action="store_true", help="train even with fewer new trajectories than the minimum")
    p.add_argument("--config", default="retrain", metavar="NAME",
                   help="the job's plan under roles/recipes/ (default: retrain)")
    p.add_argument("--recipe", metavar="NAME",
                   help="train with this one recipe (e.g. base_sft) instead of the plan's stages")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a plan key, e.g. --set min_new_trajectories=5 --set train.steps=2 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="print only the summary line (for cron mail)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.store import Store
    from oversight.train.retrain_config import load_retrain_config
    from oversight.train.retrain_parts import build_job

    config = load_retrain_config(args.config, settings.project_dir, args.overrides, recipe=args.recipe)
    store = Store.open(settings)
    job, evaluator = build_job(settings, store, config, progress=not args.quiet,
                               log=(lambda _m: None) if args.quiet else print)
    try:
        report = job.run(dry_run=args.dry_run, force=args.force)
    finally:
        evaluator.close()
    print(report.summary)
    return report.exit_code
