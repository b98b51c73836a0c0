"""`status`: what an operator checks first: the queue, the active versions, the last runs and retrain, disk use."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from oversight.settings import Settings

EXAMPLE = "example: python -m oversight.run status --json"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status", help=f"queue depth, active versions, last runs and retrain, disk use ({EXAMPLE})",
        description="Review queue depth and its oldest open item, the model and active trained version of each "
                    "role, the last runs with their routes, the last retrain and its outcome, and the disk used "
                    f"by checkpoints, adapters and the store. Reads only. {EXAMPLE}")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--runs", type=int, default=5, help="how many recent runs to list (default: 5)")
    p.add_argument("--roles", default="default", help="roles file whose models are listed (default: default)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from oversight.errors import OversightError
    from oversight.roles import load_roles
    from oversight.store import Store
    from oversight.store.status import active_versions, file_bytes, last_retrain, last_runs, queue_status, \
        storage_bytes

    if args.runs < 0:
        raise OversightError(f"--runs must be 0 or more, got {args.runs}")
    roles_file = load_roles(args.roles, settings.project_dir)
    store = Store.open(settings)
    store_size, pg_checkpoints = storage_bytes(store)
    report: dict[str, Any] = {
        "database": store.safe_url,
        "queue": queue_status(store).model_dump(mode="json"),
        "roles": _roles(roles_file, {v.role: v.model_dump(mode="json") for v in active_versions(store)}),
        "runs": [r.model_dump(mode="json") for r in last_runs(store, args.runs)],
        "retrain": (lambda r: r.model_dump(mode="json") if r else None)(last_retrain(store)),
        "disk_bytes": {
            "checkpoints": pg_checkpoints if pg_checkpoints is not None else file_bytes(settings.checkpoint_path),
            "adapters": _folder_bytes(settings.adapters_dir),
            "store": store_size,
        },
    }
    store.dispose()
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else _text(report, settings))
    return 0


def _roles(roles_file: Any, active: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for role, cfg in roles_file.roles.items():
        model = roles_file.models[cfg.model]
        out[role] = {"model": cfg.model, "source": model.source, "adapter": cfg.adapter, "head": cfg.head,
                     "active_version": active.get(role)}
    return out


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _when(stamp: str | None) -> str:
    if not stamp:
        return "?"
    moment = datetime.fromisoformat(stamp)
    age = (datetime.now(timezone.utc) - moment).total_seconds()
    ago = f"{age / 86400:.1f} d" if age >= 86400 else f"{age / 3600:.1f} h" if age >= 3600 else f"{age / 60:.0f} min"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({ago} ago)"


def _size(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _text(report: dict[str, Any], settings: Settings) -> str:
    queue = report["queue"]
    lines = [f"store: {report['database']}"]
    if queue["open_items"]:
        states = ", ".join(f"{s} {n}" for s, n in sorted(queue["by_status"].items()))
        lines.append(f"review queue: {queue['open_items']} open ({states}); oldest #{queue['oldest_open_id']} "
                     f"since {_when(queue['oldest_open_at'])}")
    else:
        lines.append("review queue: empty")
    if queue.get("timed_out"):
        lines.append(f"  {queue['timed_out']} item(s) passed their deadline and got the spec's refusal")
    lines.append("roles:")
    for role, info in report["roles"].items():
        version = info["active_version"]
        trained = [part for part in ("adapter", "head") if info[part] == "trained"]
        if version:
            what = (f"version {version['id']} ({version['kind']}), active since "
                    f"{_when(version['activated_at'] or version['created_at'])}")
        elif trained:
            what = "no active version (untrained: runs the bare model)"
        else:
            what = "zero-shot by configuration"
        lines.append(f"  {role:<8} model {info['model']} ({info['source']}); {what}")
    lines.append("last runs:" if report["runs"] else "last runs: none")
    for r in report["runs"]:
        routes = ", ".join(f"{k} {v}" for k, v in sorted(r["routes"].items())) or "no trajectories"
        lines.append(f"  {r['id']}  {r['kind']:<10} {r['status']:<9} graph {r['graph_name']:<8} "
                     f"{_when(r['created_at'])}: {routes}")
    retrain = report["retrain"]
    lines.append("last retrain: none" if retrain is None else
                 f"last retrain: #{retrain['id']} ({retrain['role']}) {retrain['stage']}, started "
                 f"{_when(retrain['started_at'])}" + (f": {retrain['summary']}" if retrain["summary"] else ""))
    disk = report["disk_bytes"]
    where = "in the database" if settings.database_url.startswith("postgres") else str(settings.checkpoint_path)
    lines.append(f"disk: checkpoints {_size(disk['checkpoints'])} ({where}), adapters {_size(disk['adapters'])} "
                 f"({settings.adapters_dir}), store {_size(disk['store'])}")
    return "\n".join(lines)
