"""`train`: teach one oversight role from the constitution's material and register it."""

from __future__ import annotations

import argparse

from oversight.cli.train_base import add_arguments as add_base_arguments
from oversight.cli.train_base import run_base
from oversight.roles import TRAINABLE_ROLES
from oversight.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a role's head or adapter (example: train --role safety)",
        description="Train one oversight role on the constitution's shipped material (held-out split kept "
                    "apart), print its held-out metrics and make it the role's active version. "
                    "Example: python -m oversight.run train --role safety --set folds=3; the base model: "
                    "train --role base --algo sft --dataset EXPORT (a candidate version, not activated)")
    p.add_argument("--role", required=True, choices=(*TRAINABLE_ROLES, "base"),
                   help="which role to train (base: the answering model, from an export; needs --algo)")
    p.add_argument("--constitution", default="default", help="constitution name or path (default: default)")
    p.add_argument("--roles", default="default", help="roles file name or path (default: default)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe field of roles/recipes/ROLE.yaml, e.g. --set steps=2 (repeatable)")
    p.add_argument("--no-activate", action="store_true", help="register the version without making it active")
    p.add_argument("--force", action="store_true",
                   help="activate the version even if its held-out metrics miss the role's thresholds")
    add_base_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.constitution import load_constitution
    from oversight.roles import load_roles
    from oversight.store import Store
    from oversight.train.bootstrap import summary
    from oversight.train.jobs import train_role

    if args.role == "base":
        return run_base(args, settings)
    constitution = load_constitution(args.constitution, settings.project_dir)
    roles_file = load_roles(args.roles, settings.project_dir)
    store = Store.open(settings)
    outcome = train_role(settings, store, roles_file, constitution, args.role, args.overrides,
                         progress=True, log=print, activate=not args.no_activate, force=args.force)
    print(f"{args.role}: held-out {summary(outcome.metrics)}")
    for key in sorted(outcome.metrics):
        value = outcome.metrics[key]
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    for sample in outcome.samples[:3]:
        print(f"  sample [{sample['principle']}] {sample['prompt'][:60]!r} -> {sample['revision'][:120]!r}")
    return 1 if outcome.shortfalls and not outcome.activated and not args.no_activate else 0
