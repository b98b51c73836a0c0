"""`roles check`: which model, adapter and head each role uses, and whether to trust it."""

from __future__ import annotations

import argparse
import math
from typing import Any

from oversight.cli.common import add_roles_options
from oversight.settings import Settings
from oversight.train.thresholds import THRESHOLDS, meets, shortfalls

def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="inspect the oversight roles (example: roles check)",
                       description="Inspect the roles of a roles file.")
    rsub = p.add_subparsers(dest="roles_command", metavar="ACTION", required=True)
    check = rsub.add_parser(
        "check", help="show each role's model, adapter, head and held-out metrics (example: roles check)",
        description="For each role: its model, adapter and head, the registry version, and held-out metrics; "
                    "UNTRAINED roles run zero-shot, metrics below threshold are marked. Exits 1 when a role the "
                    "roles file wants trained has no version or misses its thresholds (roles zero-shot by "
                    "configuration are reported, not failed), so cron and CI can rely on it. "
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
        missed = shortfalls(role, metrics)
        for why in missed:
            print(f"  BELOW THRESHOLD: {why}")
        flagged += len(missed)
    print("all roles trained and within thresholds" if not flagged else
          f"{flagged} problem(s): see UNTRAINED / BELOW THRESHOLD above")
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
