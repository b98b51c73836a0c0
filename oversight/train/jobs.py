"""Train one role on the shipped material and register the result as its active version."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from oversight.constitution import Constitution
from oversight.roles import RolesFile
from oversight.runtime.versions import VersionManifest
from oversight.settings import Settings
from oversight.train.head_config import HeadRecipe
from oversight.train.recipes import load_recipe


@dataclass
class TrainOutcome:
    role: str
    version_id: int
    folder: Any
    metrics: dict[str, Any]
    seconds: float
    samples: list[dict[str, str]]


def train_role(settings: Settings, store: Any, roles_file: RolesFile, constitution: Constitution, role: str,
               overrides: list[str] | None = None, *, runtime: Any = None, progress: bool = True,
               log: Callable[[str], None] = lambda _m: None, activate: bool = True) -> TrainOutcome:
    """Fit the role's head or adapter (recipe roles/recipes/ROLE.yaml), save it, register it."""
    from oversight.store import register_version

    recipe = load_recipe(role, settings.project_dir, overrides)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    folder = settings.adapters_dir / role / stamp
    own_runtime = runtime is None
    if own_runtime:
        from oversight.runtime import Runtime

        runtime = Runtime(settings.models_dir)
    start = time.perf_counter()
    samples: list[dict[str, str]] = []
    try:
        if isinstance(recipe, HeadRecipe):
            from oversight.train.head_trainer import train_head

            result = train_head(recipe, runtime, roles_file, constitution, folder, progress=progress, log=log)
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
    version_id = register_version(
        store, role, kind, str(folder), roles_file.model_for(role).hub_id, metrics=metrics,
        constitution_hash=constitution.content_hash, activate=activate,
        notes=f"recipe roles/recipes/{role}.yaml" + (f" with {' '.join(overrides)}" if overrides else ""))
    log(f"{role}: registered version {version_id} ({kind}) in {seconds:.0f} s -> {folder}")
    return TrainOutcome(role, version_id, folder, metrics, seconds, samples)
