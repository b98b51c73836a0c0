"""`models list|show|promote|rollback|retire`: the registry's versions, their provenance, switching between them.

Helpers of `oversight/cli/models.py` (not a subcommand of its own).
"""

from __future__ import annotations

import argparse
from typing import Any

from oversight.settings import Settings


def add_actions(msub: argparse._SubParsersAction, add_roles_options: Any) -> None:
    show = msub.add_parser("show", help="a version's provenance (example: models show 7)",
                           description="Trace one registry version: parent, recipe, dataset snapshot with counts by "
                                       "source, constitution hashes, reviewers, gate figures. "
                                       "Example: python -m oversight.run models show 7")
    show.add_argument("version", type=int, help="registry version id (see models list)")
    show.set_defaults(run=run_show)
    promote = msub.add_parser("promote", help="make a candidate active (example: models promote 7)",
                              description="Make a candidate version its role's active one; the old active version "
                                          "retires in the same transaction. Example: python -m oversight.run models "
                                          "promote 7")
    promote.add_argument("version", type=int, help="candidate version id")
    add_roles_options(promote)
    promote.set_defaults(run=run_promote)
    back = msub.add_parser("rollback", help="bring back the previous active version (example: models rollback base)",
                           description="Retire a role's active version and bring back the one it replaced. "
                                       "Example: python -m oversight.run models rollback base")
    back.add_argument("role", nargs="?", default="base", help="role (default: base)")
    back.set_defaults(run=run_rollback)
    retire = msub.add_parser("retire", help="take a version out of use (example: models retire 7)",
                             description="Retire a candidate, or the active version (its role then runs the bare "
                                         "model). Example: python -m oversight.run models retire 7")
    retire.add_argument("version", type=int, help="version id")
    retire.set_defaults(run=run_retire)


def print_versions(settings: Settings) -> None:
    """The registry's table, newest first, under the roles file's models."""
    from oversight.store import Store, list_versions

    versions = list_versions(Store.open(settings))
    if not versions:
        print("versions: none registered yet (the first `graph` run trains the oversight roles)")
        return
    print("versions:")
    print(f"  {'id':>4}  {'role':<8} {'kind':<7} {'status':<9} {'algo':<6} {'from':<5} {'parent':>6}  "
          f"{'created (UTC)':<16}  figures")
    for v in reversed(versions):
        print(f"  {v.id:>4}  {v.role:<8} {v.kind:<7} {v.status:<9} {v.algorithm or '-':<6} "
              f"{v.started_from or '-':<5} {v.parent_id or '-':>6}  "
              f"{f'{v.created_at:%Y-%m-%d %H:%M}' if v.created_at else '-':<16}  {_figures(v.metrics_json)}")


def _figures(metrics: dict[str, Any], limit: int = 3) -> str:
    shown = [f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float)][:limit]
    return ", ".join(shown) or "-"


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.store import Store, require_version

    store = Store.open(settings)
    v = require_version(store, args.version)
    print(f"version {v.id}: {v.role} {v.kind}, {v.status}"
          f"{f', active since {v.activated_at:%Y-%m-%d %H:%M} UTC' if v.status == 'active' and v.activated_at else ''}")
    print(f"  created: {v.created_at:%Y-%m-%d %H:%M:%S} UTC" if v.created_at else "  created: -")
    print(f"  path: {v.path}")
    print(f"  base model: {v.base_model}")
    print(f"  algorithm: {v.algorithm or '-'}; started from: "
          f"{ {'active': 'the active adapter', 'bare': 'the bare model'}.get(v.started_from or '', '-') }")
    print(f"  parent: {_version_line(store, v.parent_id)}")
    print(f"  replaced: {_version_line(store, v.previous_id)}")
    print(f"  recipe: {_compact(v.recipe_json) if v.recipe_json else v.notes or '-'}")
    data = v.dataset_json
    if data:
        print(f"  dataset: export {data.get('export_id', '-')} (data until {data.get('data_until', '-')})")
        for kind, counts in (data.get("counts") or {}).items():
            by_source = (data.get("by_source") or {}).get(kind, {})
            print(f"    {kind}: {counts.get('train', 0)} train + {counts.get('test', 0)} test rows; by source "
                  + ", ".join(f"{s} {n}" for s, n in by_source.items()))
        if "train_rows" in data:  # what the trainer itself read (after its own filters)
            trained = data.get("trainer_by_source") or {k: v for k, v in (data.get("by_source") or {}).items()
                                                        if isinstance(v, int)}
            trained = {k: v for k, v in trained.items() if k != "unknown"}
            print(f"    trained on {data['train_rows']} rows ({data.get('heldout_rows', 0)} held out)"
                  + (f"; by source {', '.join(f'{s} {n}' for s, n in trained.items())}" if trained else ""))
        hashes = data.get("row_hashes") or {}
        print(f"    row hashes: {sum(len(h) for h in hashes.values())} recorded")
        print(f"  constitution hashes: {', '.join(data.get('constitution_hashes') or []) or '-'}")
        print(f"  learned from reviewers: {', '.join(data.get('reviewers') or []) or 'none (AI labels only)'}")
    else:
        print(f"  dataset: - (constitution {v.constitution_hash or '-'})")
    print(f"  metrics: {_compact(v.metrics_json) or '-'}")
    _print_gate(v.gate_json)
    return 0


def _print_gate(gate: dict[str, Any] | None) -> None:
    if not gate:
        print("  gate: not gated")
        return
    print(f"  gate: {'passed' if gate.get('passed') else 'failed'}")
    for reason in gate.get("reasons", []):
        print(f"    {reason}")


def _version_line(store: Any, version_id: int | None) -> str:
    from oversight.store import get_version

    if version_id is None:
        return "none"
    other = get_version(store, version_id)
    return f"version {version_id} ({other.status}, {other.algorithm or other.kind})" if other else \
        f"version {version_id} (deleted)"


def _compact(data: dict[str, Any], limit: int = 12) -> str:
    items = list(data.items())
    text = ", ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in items[:limit])
    return text + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def run_promote(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.roles import load_roles
    from oversight.store import Store, active_version, promote, require_version

    store = Store.open(settings)
    candidate = require_version(store, args.version)
    roles = load_roles(args.roles, settings.project_dir, args.overrides)
    model = roles.model_for(candidate.role).hub_id if candidate.role in roles.roles else None  # type: ignore[arg-type]
    before = active_version(store, candidate.role)
    done = promote(store, args.version, base_model=model)
    print(f"{done.role}: version {done.id} is active"
          + (f" (version {before.id} retired)" if before and before.id != done.id else ""))
    return 0


def run_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.store import Store, active_version, rollback

    store = Store.open(settings)
    before = active_version(store, args.role)
    back = rollback(store, args.role)
    print(f"{args.role}: version {back.id} is active again (version {before.id if before else '-'} retired)")
    return 0


def run_retire(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.store import Store, retire

    done = retire(Store.open(settings), args.version)
    print(f"{done.role}: version {done.id} retired")
    return 0
