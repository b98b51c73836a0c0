"""First-run bootstrap: train every role the roles file wants `trained` but the registry lacks.

A small embedded model cannot judge zero-shot, so the first `graph` run teaches
it from the constitution's material (a few minutes on CPU), registers the
results, and every later run finds them in the registry and starts at once.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oversight.constitution import Constitution
from oversight.roles import TRAINED, RoleName, RolesFile
from oversight.runtime.versions import RoleVersion, VersionManifest
from oversight.settings import Settings

# Cheapest first; the reviser's adapter also serves the critic's critiques.
TRAIN_ORDER: tuple[str, ...] = ("safety", "judge", "critic", "reviser")


def wants_training(roles_file: RolesFile, role: str) -> bool:
    cfg = roles_file.roles[role]  # type: ignore[index]
    return cfg.adapter == TRAINED or cfg.head == TRAINED


def resolve_versions(store: Any, roles_file: RolesFile) -> dict[RoleName, RoleVersion]:
    """Map each role's `trained` / path / null declarations to concrete files."""
    from oversight.store import active_version

    out: dict[RoleName, RoleVersion] = {}
    for role, cfg in roles_file.roles.items():
        adapter = Path(cfg.adapter) if cfg.adapter and cfg.adapter != TRAINED else None
        head = Path(cfg.head) if cfg.head and cfg.head != TRAINED else None
        version_id = None
        if wants_training(roles_file, role):
            record = active_version(store, role)
            if record is not None:
                version_id = record.id
                manifest = VersionManifest.read(Path(record.path))
                if cfg.head == TRAINED:
                    head = manifest.head_path(Path(record.path))
                if cfg.adapter == TRAINED:
                    adapter = manifest.adapter_path(Path(record.path))
                    if adapter is None and manifest.adapter_from:
                        adapter = _active_adapter(store, manifest.adapter_from)
        out[role] = RoleVersion(adapter=adapter, head=head, version_id=version_id)
    return out


def _active_adapter(store: Any, role: str) -> Path | None:
    from oversight.store import active_version

    record = active_version(store, role)
    if record is None:
        return None
    return VersionManifest.read(Path(record.path)).adapter_path(Path(record.path))


def roles_to_train(store: Any, roles_file: RolesFile) -> dict[str, str]:
    """Trainable roles that want `trained` but have no usable active version, with why, in training order.

    A head learned the features of one prompt layout; when the roles file changes a template, the
    system prompt or the feature layers, the active head no longer fits and is trained again.
    """
    from oversight.store import active_version

    todo: dict[str, str] = {}
    for role in TRAIN_ORDER:
        if not wants_training(roles_file, role):
            continue
        record = active_version(store, role)
        if record is None:
            todo[role] = "no trained version yet"
            continue
        cfg = roles_file.roles[role]  # type: ignore[index]
        if cfg.head != TRAINED:  # only heads go stale; an adapter does not read features
            continue
        head = VersionManifest.read(Path(record.path)).head_path(Path(record.path))
        if head is not None:
            from oversight.runtime.heads import read_head_spec

            why = read_head_spec(head, role=role, base_model=roles_file.model_for(role).hub_id).mismatch(cfg)
            if why:
                todo[role] = f"the active head (version {record.id}) no longer fits: {why}"
    return todo


def ensure_trained(settings: Settings, store: Any, roles_file: RolesFile, constitution: Constitution,
                   progress: bool = True, log: Callable[[str], None] = lambda _m: None, *,
                   runtime: Any = None, overrides: dict[str, list[str]] | None = None
                   ) -> dict[RoleName, RoleVersion]:
    """Train missing roles once (under a file lock, so parallel runs train once), then resolve all."""
    todo = roles_to_train(store, roles_file)
    if todo:
        settings.ensure_home()
        with open(settings.home / ".bootstrap.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            todo = roles_to_train(store, roles_file)  # another process may have finished meanwhile
            if todo:
                _train_all(settings, store, roles_file, constitution, todo, progress, log, runtime, overrides or {})
    base = roles_file.roles["base"]
    if base.adapter == TRAINED:
        from oversight.store import active_version

        if active_version(store, "base") is None:
            log("base: no trained version yet (it learns from reviewed trajectories via `retrain`); "
                "using the bare model")
    return resolve_versions(store, roles_file)


def _train_all(settings: Settings, store: Any, roles_file: RolesFile, constitution: Constitution,
               todo: dict[str, str], progress: bool, log: Callable[[str], None], runtime: Any,
               overrides: dict[str, list[str]]) -> None:
    from tqdm.auto import tqdm

    from oversight.train.jobs import train_role

    fresh = [r for r, why in todo.items() if why == "no trained version yet"]
    if fresh:
        log(f"First run: teaching the oversight roles ({', '.join(fresh)}) from the constitution's written "
            f"demonstrations, because a small model cannot judge zero-shot. This happens once (a few minutes "
            f"on CPU); later runs reuse the results from {settings.adapters_dir}.")
    for role, why in todo.items():
        if role not in fresh:
            log(f"{role}: training again: {why}.")
    own_runtime = runtime is None
    if own_runtime:
        from oversight.runtime import Runtime

        runtime = Runtime(settings.models_dir, device=settings.device)
    start = time.perf_counter()
    try:
        with tqdm(total=len(todo), desc="training roles", unit="role", disable=not progress) as bar:
            for role in todo:
                bar.set_postfix_str(role)
                outcome = train_role(settings, store, roles_file, constitution, role, overrides.get(role),
                                     runtime=runtime, progress=progress, log=log)
                log(f"{role}: {summary(outcome.metrics)}")
                if outcome.shortfalls and not outcome.activated:
                    log(f"{role}: WARNING: below its thresholds, so it stays untrained (zero-shot) and the "
                        "next run trains it again")
                bar.update(1)
    finally:
        if own_runtime:
            runtime.close()
    log(f"Oversight roles trained in {time.perf_counter() - start:.0f} s.")


def summary(metrics: dict[str, Any]) -> str:
    """One line of the figures that say whether a role can be trusted."""
    parts = []
    for key in ("auroc", "accuracy", "ece", "heldout_loss", "rewrite_rate", "refusal_rate_harmful"):
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            parts.append(f"{key} {value:.3f}")
    return ", ".join(parts) or "no held-out metrics"


def build_roles(settings: Settings, store: Any, roles_file: RolesFile, constitution: Constitution,
                *, progress: bool = True, log: Callable[[str], None] | None = None, runtime: Any = None,
                ) -> tuple[Any, dict[str, Any], Any]:
    """The real roles: train missing adapters/heads once, then load them on one runtime.

    Returns (roles, versions, runtime); the caller closes the runtime.
    """
    from oversight.runtime import Runtime
    from oversight.runtime.roleset import RoleSet
    from oversight.runtime.versions import versions_json

    # one runtime: bootstrap features and the graph share the model
    runtime = runtime or Runtime(settings.models_dir, device=settings.device)
    versions = ensure_trained(settings, store, roles_file, constitution, progress=progress,
                              log=log or (lambda _msg: None), runtime=runtime)
    return RoleSet(runtime, roles_file, constitution, versions), versions_json(versions), runtime
