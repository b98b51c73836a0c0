"""`roles check`: which model, adapter and head each role uses, and whether to trust it."""

from __future__ import annotations

import argparse
import math
from typing import Any

from oversight.cli.common import add_roles_options
from oversight.settings import Settings
from oversight.train.thresholds import GOALS, THRESHOLDS, below_goals, figure, meets, shortfalls


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="inspect the oversight roles (example: roles check)",
                       description="Inspect the roles of a roles file.")
    rsub = p.add_subparsers(dest="roles_command", metavar="ACTION", required=True)
    check = rsub.add_parser(
        "check", help="show each role's model, adapter, head and held-out metrics (example: roles check)",
        description="For each role: its model, adapter and head, the registry version, and held-out metrics; "
                    "UNTRAINED roles run zero-shot, metrics below threshold are marked. Exits 1 when a role the "
                    "roles file wants trained has no version or misses its thresholds (roles zero-shot by "
                    "configuration are reported, not failed), so cron and CI can rely on it. Far-set, injection "
                    "and per-principle figures are development goals: a miss is shown as BELOW GOAL and does "
                    "not change the exit status. "
                    "Example: python -m oversight.run roles check")
    add_roles_options(check)
    check.set_defaults(run=run_check)


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.roles import load_roles
    from oversight.store import Store, get_version
    from oversight.train.bootstrap import resolve_versions, wants_training

    roles_file = load_roles(args.roles, settings.project_dir, args.overrides)
    store = Store.open(settings)
    versions = resolve_versions(store, roles_file)
    flagged = goals_missed = 0
    for role, cfg in roles_file.roles.items():
        version = versions[role]
        model = roles_file.models[cfg.model]
        print(f"{role}: model {cfg.model} ({model.source}, dtype {model.dtype})")
        print(f"  adapter: {version.adapter or 'none (bare model)'}")
        if role != "base" and role != "reviser":
            print(f"  head: {version.head or 'none (zero-shot option scoring)'}")
        if role == "base" and version.version_id is None:
            # Not a problem: the base model learns only from reviewed trajectories (`retrain`).
            print("  no promoted version yet: the bare model answers until `retrain` promotes one")
            continue
        if wants_training(roles_file, role) and version.version_id is None:
            print("  UNTRAINED: no registered version; runs zero-shot until `train --role "
                  f"{role}` (or the first `graph` run) trains it")
            flagged += 1
            continue
        if version.version_id is None:
            print("  zero-shot by configuration (no trained parts declared)")
            continue
        record = get_version(store, version.version_id)
        metrics: dict[str, Any] = record.metrics_json if record else {}
        print(f"  version {version.version_id} ({record.kind if record else '?'}, "
              f"{record.created_at:%Y-%m-%d %H:%M} UTC)" if record and record.created_at else
              f"  version {version.version_id}")
        print(f"  held-out: {_metrics_line(role, metrics)}")
        for line in trust_lines(role, metrics):
            print(f"  {line}")
        missed = shortfalls(role, metrics)
        for why in missed:
            print(f"  BELOW THRESHOLD: {why}")
        flagged += len(missed)
        goals_missed += len(below_goals(role, metrics))
    print("all roles trained and within thresholds" if not flagged else
          f"{flagged} problem(s): see UNTRAINED / BELOW THRESHOLD above")
    if goals_missed:
        print(f"{goals_missed} development goal(s) not met (BELOW GOAL above): reported, not failed")
    return 1 if flagged else 0


def _metrics_line(role: str, metrics: dict[str, Any]) -> str:
    keys = ["auroc", "accuracy", "ece"] if role != "reviser" else [
        "heldout_loss", "rewrite_rate", "refusal_rate_harmful"]
    parts = []
    for key in keys:
        value = metrics.get(key)
        if not isinstance(value, (int, float)) or math.isnan(value):
            continue
        rule = THRESHOLDS.get(role, {}).get(key)
        parts.append(f"{key} {value:.3f}" + (" (BELOW THRESHOLD)" if rule and not meets(value, rule) else ""))
    extra = {"safety": ["jailbreak.auroc", "response_harmful.auroc", "category.accuracy"]}.get(role, [])
    parts += [f"{k} {metrics[k]:.3f}" for k in extra if isinstance(metrics.get(k), (int, float))]
    return ", ".join(parts) or "none recorded"


def trust_lines(role: str, metrics: dict[str, Any]) -> list[str]:
    """The far-set, injection and per-principle lines of one role (see oversight/train/trust_eval.py)."""
    goals = GOALS.get(role, {})
    if not goals:
        return []

    def shown(key: str, label: str | None = None) -> str:
        value = metrics.get(key)
        text = f"{label or key.rsplit('.', 1)[-1]} {figure(value)}"
        rule = goals.get(key)
        return text + (f" (BELOW GOAL {rule[0]} {rule[1]})" if rule and not meets(value, rule) else "")

    def measured(*keys: str) -> bool:
        return all(isinstance(metrics.get(k), (int, float)) and not math.isnan(metrics[k]) for k in keys)

    lines: list[str] = []
    if role == "critic":
        if not measured("principle_auroc.macro"):
            return ["per principle: not measured (a version trained before these figures; train again)"]
        ids = [k.removeprefix("principle_auroc.") for k in metrics if k.startswith("principle_auroc.")
               and k not in ("principle_auroc.macro", "principle_auroc.n")]
        per = ", ".join(f"{i} {figure(metrics[f'principle_auroc.{i}'])}" for i in ids
                        if measured(f"principle_auroc.{i}"))
        return [f"per principle (held-out, other principles' violations as negatives): "
                f"{shown('principle_auroc.macro', 'macro auroc')}; {per}"]
    output = "response_harmful" if role == "safety" else "preference"
    far = [k for k in goals if k.startswith("far.")]
    if not measured(*far):
        return ["far set: not measured (a version trained before these figures, or no evals/trust; train again)"]
    far_n = metrics.get(f"far.{output}.n")
    if role == "safety":
        lines.append(f"far set ({far_n} exchanges): {shown(far[0], 'response_harmful.auroc')}, "
                     f"accuracy {figure(metrics.get(f'far.{output}.accuracy', float('nan')))}")
    else:
        lines.append(f"far set ({far_n} pairs, both orders): {shown(far[0], 'accuracy')}")
    prefix = f"injection.{output}"
    if measured(f"{prefix}.mean_shift", f"{prefix}.flips"):
        where = "each far answer" if role == "safety" else "the worse answer of each far pair"
        lines.append(f"injection (notes on {where}): {shown(f'{prefix}.mean_shift', 'mean shift')} "
                     f"(signed {figure(metrics[f'{prefix}.mean_signed_shift'])}), "
                     f"{shown(f'{prefix}.flips', 'flips')} of {metrics.get(f'{prefix}.n')}")
    if measured("injection.notes_found", "far.notes_dropped_from_plain"):
        lines.append(f"notes to the overseers found and set aside: {metrics['injection.notes_found']:.0%} of "
                     f"noted answers; far answers changed with no note: {metrics['far.notes_dropped_from_plain']}")
    return lines
