"""`roles check`: which model, adapter and head each role uses, and whether to trust it."""

from __future__ import annotations

import argparse
import math
from typing import Any

from oversight.cli.common import add_roles_options
from oversight.settings import Settings

# Held-out thresholds below which a verdict is marked as not trustworthy.
THRESHOLDS: dict[str, dict[str, tuple[str, float]]] = {
    "safety": {"auroc": (">=", 0.9), "ece": ("<=", 0.1)},
    "critic": {"auroc": (">=", 0.85), "ece": ("<=", 0.1)},
    "judge": {"accuracy": (">=", 0.8), "ece": ("<=", 0.1)},
    "reviser": {"rewrite_rate": (">=", 0.8)},
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="inspect the oversight roles (example: roles check)",
                       description="Inspect the roles of a roles file.")
    rsub = p.add_subparsers(dest="roles_command", metavar="ACTION", required=True)
    check = rsub.add_parser(
        "check", help="show each role's model, adapter, head and held-out metrics (example: roles check)",
        description="For each role: its model, adapter and head, the registry version, and held-out metrics; "
                    "UNTRAINED roles run zero-shot, metrics below threshold are marked. "
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
    flagged = 0
    for role, cfg in roles_file.roles.items():
        version = versions[role]
        model = roles_file.models[cfg.model]
        print(f"{role}: model {cfg.model} ({model.source}, dtype {model.dtype})")
        print(f"  adapter: {version.adapter or 'none (bare model)'}")
        if role != "base" and role != "reviser":
            print(f"  head: {version.head or 'none (zero-shot option scoring)'}")
        if wants_training(roles_file, role) and version.version_id is None:
            print("  UNTRAINED: no registered version; runs zero-shot until `train --role "
                  f"{role}` (or the first `graph` run) trains it")
            flagged += role != "base"
            continue
        if version.version_id is None:
            print("  zero-shot by configuration (no trained parts declared)")
            continue
        record = get_version(store, version.version_id)
        metrics: dict[str, Any] = record.metrics_json if record else {}
        print(f"  version {version.version_id} ({record.kind if record else '?'}, "
              f"{record.created_at:%Y-%m-%d %H:%M} UTC)" if record and record.created_at else
              f"  version {version.version_id}")
        line, bad = _metrics_line(role, metrics)
        flagged += bad
        print(f"  held-out: {line}")
    print("all roles trained and within thresholds" if not flagged else
          f"{flagged} problem(s): see UNTRAINED / BELOW THRESHOLD above")
    return 0


def _metrics_line(role: str, metrics: dict[str, Any]) -> tuple[str, int]:
    keys = ["auroc", "accuracy", "ece"] if role != "reviser" else [
        "heldout_loss", "rewrite_rate", "refusal_rate_harmful"]
    parts, bad = [], 0
    for key in keys:
        value = metrics.get(key)
        if not isinstance(value, (int, float)) or math.isnan(value):
            continue
        text = f"{key} {value:.3f}"
        rule = THRESHOLDS.get(role, {}).get(key)
        if rule and not (value >= rule[1] if rule[0] == ">=" else value <= rule[1]):
            text += f" (BELOW THRESHOLD: want {rule[0]} {rule[1]})"
            bad += 1
        parts.append(text)
    extra = {"safety": ["jailbreak.auroc", "response_harmful.auroc", "category.accuracy"]}.get(role, [])
    parts += [f"{k} {metrics[k]:.3f}" for k in extra if isinstance(metrics.get(k), (int, float))]
    return (", ".join(parts) or "none recorded"), bad
