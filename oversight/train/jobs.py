"""Train one role on the shipped material and register the result as its active version."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oversight.constitution import Constitution
from oversight.roles import RolesFile
from oversight.runtime.versions import VersionManifest
from oversight.settings import Settings
from oversight.train.head_config import HeadRecipe
from oversight.train.recipes import load_recipe
from oversight.train.thresholds import shortfalls


@dataclass
class TrainOutcome:
    role: str
    version_id: int
    folder: Any
    metrics: dict[str, Any]
    seconds: float
    samples: list[dict[str, str]]
    activated: bool = False
    shortfalls: list[str] = field(default_factory=list)  # held-out thresholds it missed (train/thresholds.py)


def train_role(settings: Settings, store: Any, roles_file: RolesFile, constitution: Constitution, role: str,
               overrides: list[str] | None = None, *, runtime: Any = None, progress: bool = True,
               log: Callable[[str], None] = lambda _m: None, activate: bool = True,
               force: bool = False) -> TrainOutcome:
    """Fit the role's head or adapter (recipe roles/recipes/ROLE.yaml), save it, register it.

    The version becomes active only when its held-out metrics meet the role's thresholds, or when
    `force` says to activate it anyway; otherwise it is registered inactive, for inspection.
    """
    from oversight.store import register_version

    recipe = load_recipe(role, settings.project_dir, overrides)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    folder = settings.adapters_dir / role / stamp
    own_runtime = runtime is None
    if own_runtime:
        from oversight.runtime import Runtime

        runtime = Runtime(settings.models_dir, device=settings.device)
    start = time.perf_counter()
    samples: list[dict[str, str]] = []
    try:
        if isinstance(recipe, HeadRecipe):
            from oversight.train.head_trainer import train_head

            result = train_head(recipe, runtime, roles_file, constitution, folder, progress=progress, log=log,
                                safety_head=_active_safety_head(store, roles_file) if role != "safety" else None)
            metrics, kind = result.metrics, "head"
            manifest = VersionManifest(role=role, kind=kind, head="head.json",
                                       adapter_from=recipe.share_adapter_with)
        else:
            from oversight.train.sft_trainer import train_adapter

            sft = train_adapter(recipe, settings.models_dir, roles_file, constitution, folder, runtime=runtime,
                                progress=progress, log=log)
            metrics, kind, samples = sft.metrics, "adapter", sft.samples
            manifest = VersionManifest(role=role, kind=kind, adapter="adapter")
    finally:
        if own_runtime:
            runtime.close()
    seconds = time.perf_counter() - start
    metrics = {**metrics, "train_seconds": round(seconds, 1)}
    manifest = manifest.model_copy(update={
        "constitution": constitution.name, "constitution_hash": constitution.content_hash,
        "created": datetime.now(UTC).isoformat(timespec="seconds"), "train_seconds": round(seconds, 1)})
    manifest.write(folder)
    missed = shortfalls(role, metrics)
    activated = activate and (force or not missed)
    notes = f"recipe roles/recipes/{role}.yaml" + (f" with {' '.join(overrides)}" if overrides else "")
    if missed:
        notes += f"; below thresholds: {'; '.join(missed)}" + ("; activated by --force" if activated else "")
    version_id = register_version(
        store, role, kind, str(folder), roles_file.model_for(role).hub_id, metrics=metrics,
        constitution_hash=constitution.content_hash, activate=activated, notes=notes)
    log(f"{role}: registered version {version_id} ({kind}{', active' if activated else ', not active'}) "
        f"in {seconds:.0f} s -> {folder}")
    if missed and activate and not force:
        log(f"{role}: version {version_id} is below its held-out thresholds ({'; '.join(missed)}), so it was "
            f"not activated; `train --role {role} --force` activates such a version anyway")
    return TrainOutcome(role, version_id, folder, metrics, seconds, samples, activated, missed)


def _active_safety_head(store: Any, roles_file: RolesFile) -> Any:
    """The active safety head, which finds notes addressed to the overseers in the answers another role's
    far metrics read (as the graph does); None without one."""
    from oversight.runtime.heads import Head
    from oversight.store import active_version

    record = active_version(store, "safety") if "safety" in roles_file.roles else None
    path = VersionManifest.read(Path(record.path)).head_path(Path(record.path)) if record is not None else None
    return Head.load(path, role="safety", base_model=roles_file.model_for("safety").hub_id) if path else None
