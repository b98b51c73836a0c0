"""The base-model half of `train` (`--role base --algo sft|dpo|reward|ppo`); cli/train.py dispatches here."""

from __future__ import annotations

import argparse

from oversight.settings import Settings

ALGOS = ("sft", "dpo", "reward", "ppo")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--algo", choices=ALGOS, help="with --role base: sft, dpo, reward (TRL trainers) or ppo")
    p.add_argument("--recipe", default=None,
                   help="with --role base: recipe name under roles/recipes/ or a YAML path (default: base_ALGO)")
    p.add_argument("--dataset", default=None, metavar="EXPORT",
                   help="with --role base: an export folder (python -m oversight.run export) or a .jsonl file; "
                        "for ppo, a file of prompts to roll out")
    p.add_argument("--continue-version", dest="parent_version", type=int, default=None, metavar="ID",
                   help="with --role base: continue this registered base adapter instead of the recipe's init")


def run_base(args: argparse.Namespace, settings: Settings) -> int:
    """Train a base-role candidate and print its metrics; `models promote` (or retrain's gate) activates it."""
    from oversight.constitution import load_constitution
    from oversight.errors import OversightError
    from oversight.roles import load_roles
    from oversight.store import Store

    if args.algo is None:
        raise OversightError("--role base needs --algo sft|dpo|reward|ppo")
    constitution = load_constitution(args.constitution, settings.project_dir)
    roles_file = load_roles(args.roles, settings.project_dir)
    store = Store.open(settings)
    if args.algo == "ppo":
        from pathlib import Path

        from oversight.graph.inputs import read_prompts
        from oversight.train.ppo_trainer import train_ppo

        if args.dataset is None:
            raise OversightError("--algo ppo needs --dataset PROMPTS (a .jsonl or text file of prompts to roll out)")
        prompts = [p.text for p in read_prompts(Path(args.dataset)).prompts]
        outcome = train_ppo(settings, store, recipe=args.recipe or "base_ppo", overrides=args.overrides,
                            prompts=prompts, roles_file=roles_file, progress=True, log=print)
    else:
        from oversight.train.base_trainer import train_base

        outcome = train_base(settings, store, algo=args.algo, recipe=args.recipe, overrides=args.overrides,
                             dataset=args.dataset, roles_file=roles_file, constitution=constitution,
                             parent_version=args.parent_version, progress=True, log=print)
    for key in sorted(outcome.metrics):
        value = outcome.metrics[key]
        print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    print(f"candidate version {outcome.version_id}: promote with python -m oversight.run models promote "
          f"{outcome.version_id}")
    return 0
