"""Train the base role's LoRA adapter (SFT, DPO) or a reward model on exported data; register a candidate.

Every run registers a new version that is *not* active: the retraining job's
gate (or `models promote`) decides. The version records algorithm, recipe,
dataset snapshot, parent version and whether it continued an adapter or
started from the bare model. A failure before registration removes the
half-written folder, so the registry and the data folder stay as they were.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from oversight.constitution import Constitution
from oversight.errors import OversightError
from oversight.roles import RolesFile, check_adapter_folder
from oversight.runtime.versions import VersionManifest
from oversight.settings import Settings
from oversight.train.base_data import BaseData, load_base_data
from oversight.train.base_recipe import BaseRecipe, recipe_file
from oversight.train.base_recipes import load_base_recipe
from oversight.train.jobs import TrainOutcome


def train_base(settings: Settings, store: Any, *, algo: Literal["sft", "dpo", "reward"],
               recipe: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
               dataset: Path | Any = None, roles_file: RolesFile | None = None,
               constitution: Constitution | None = None, parent_version: int | None = None,
               progress: bool = True, log: Callable[[str], None] = lambda _m: None) -> TrainOutcome:
    """Fit, save under $OVERSIGHT_HOME/adapters/<role>/<stamp>/ and register a candidate version.

    `parent_version` continues that registered adapter (the loop's DPO stage continues its SFT
    candidate); otherwise the recipe's `init` says whether to continue the active base adapter.
    """
    from oversight.constitution import load_constitution
    from oversight.roles import load_roles
    from oversight.store import register_version

    recipe_name = recipe or f"base_{algo}"
    spec = load_base_recipe(algo, recipe_name, settings.project_dir, overrides)
    roles_file = roles_file or load_roles("default", settings.project_dir)
    constitution = constitution or load_constitution("default", settings.project_dir)
    if dataset is None:
        raise OversightError("no dataset given: pass an export folder (python -m oversight.run export) "
                             "with --dataset PATH")
    data = load_base_data(dataset, algo, system_prompt=roles_file.roles["base"].system_prompt,
                          min_probability=0.0 if algo == "sft" else spec.min_probability,
                          max_rows=spec.max_rows, seed=spec.seed)
    role = "reward" if algo == "reward" else "base"
    parent = _parent(store, role, spec, parent_version)
    model_cfg = roles_file.model_for("base")
    if parent is not None:
        check_adapter_folder(_adapter_of(parent), model_cfg.hub_id, f"model version {parent.id}", "adapter")
    folder = settings.adapters_dir / role / datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    start = time.perf_counter()
    try:
        metrics = fit(spec, data, model_cfg, settings.models_dir, folder,
                      parent_adapter=_adapter_of(parent) if parent else None, progress=progress, log=log)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    seconds = time.perf_counter() - start
    if not is_main_process():  # under `accelerate launch` the other processes only helped train
        return TrainOutcome(role, 0, folder, metrics, seconds, [])
    provenance = {
        "algorithm": algo, "recipe": str(recipe_file(recipe_name, settings.project_dir)),
        "recipe_fields": spec.model_dump(mode="json"), "overrides": list(overrides),
        "dataset": data.snapshot, "parent": parent.id if parent else None,
        "init": "continued" if parent else "bare", "constitution_hash": constitution.content_hash}
    VersionManifest(role=role, kind="adapter", adapter="adapter", constitution=constitution.name,
                    constitution_hash=constitution.content_hash, train_seconds=round(seconds, 1),
                    created=datetime.now(UTC).isoformat(timespec="seconds")).write(folder)
    (folder / "provenance.json").write_text(json.dumps({**provenance, "row_hashes": data.row_hashes}, indent=1),
                                            encoding="utf-8")
    metrics = {**metrics, "parent": provenance["parent"], "init": provenance["init"], "train_seconds": round(seconds, 1)}
    version_id = register_version(
        store, role, "adapter", str(folder), model_cfg.hub_id, metrics=metrics,
        constitution_hash=constitution.content_hash, activate=False, parent_id=parent.id if parent else None,
        algorithm=algo, recipe={"file": provenance["recipe"], "overrides": list(overrides), **provenance["recipe_fields"]},
        dataset=data.snapshot, started_from="active" if parent else "bare",
        notes=f"{algo} recipe {recipe_name}" + (f" with {' '.join(overrides)}" if overrides else ""))
    log(f"{role}: registered candidate version {version_id} ({algo}, "
        f"{'continued version ' + str(parent.id) if parent else 'from the bare model'}) in {seconds:.0f} s -> {folder}")
    return TrainOutcome(role, version_id, folder, metrics, seconds, [])


def fit(spec: BaseRecipe, data: BaseData, model_cfg: Any, models_dir: Path, folder: Path, *,
        parent_adapter: Path | None, progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Load the trainable model, run the recipe's algorithm, save the adapter to folder/adapter."""
    from oversight.train.lora_setup import policy_model, reward_model

    if spec.algo == "reward":
        model, tokenizer = reward_model(spec, model_cfg, models_dir)
    else:
        model, tokenizer = policy_model(spec, model_cfg, models_dir, parent_adapter)
    metrics = run_algorithm(spec, model, tokenizer, data, folder / "_trainer", progress=progress, log=log)
    if is_main_process():
        model.save_pretrained(str(folder / "adapter"), selected_adapters=["default"])
        shutil.rmtree(folder / "_trainer", ignore_errors=True)
    return metrics


def is_main_process() -> bool:
    """True in a plain run; under `accelerate launch`, only on the process that saves and registers."""
    from accelerate import PartialState

    return bool(PartialState().is_main_process)


def run_algorithm(spec: BaseRecipe, model: Any, tokenizer: Any, data: BaseData, work: Path, *,
                  progress: bool = True, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Train `model` (a PEFT model, adapter `default`) in place with the recipe's algorithm."""
    from oversight.train.dpo_config import DPORecipe
    from oversight.train.dpo_trainer import run_dpo
    from oversight.train.reward_config import RewardRecipe
    from oversight.train.reward_trainer import run_reward

    if isinstance(spec, DPORecipe):
        return run_dpo(spec, model, tokenizer, data, work, progress=progress, log=log)
    if isinstance(spec, RewardRecipe):
        return run_reward(spec, model, tokenizer, data, work, progress=progress, log=log)
    return run_sft(spec, model, tokenizer, data, work, progress=progress, log=log)


def run_sft(spec: BaseRecipe, model: Any, tokenizer: Any, data: BaseData, work: Path, *, progress: bool = True,
            log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Supervised fine-tuning on the final answers, loss on the answer only (TRL SFTTrainer)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from oversight.train.lora_setup import attach_callbacks, common_args, quiet_datasets

    def split(rows: list[dict[str, Any]], weighted: bool) -> Any:
        out = []
        for row in rows:
            messages = row["messages"]
            if not messages or messages[-1]["role"] != "assistant":
                continue
            repeat = min(3, max(1, round(row.get("weight") or 1))) if weighted else 1
            out += [{"prompt": messages[:-1], "completion": messages[-1:]}] * repeat
        return Dataset.from_list(out)

    train = split(data.train, bool(getattr(spec, "sample_weights", False)))
    if len(train) == 0:
        raise OversightError("no SFT row ends with an assistant message: nothing to learn")
    heldout = split(data.heldout[: spec.eval_rows], False) if spec.eval_rows and data.heldout else None
    device = "cpu" if model.device.type == "cpu" else model.device.type
    args = SFTConfig(**common_args(spec, work, progress, device), completion_only_loss=True,  # type: ignore[arg-type]
                     shuffle_dataset=True)
    log(f"base: supervised fine-tuning on {len(train)} answers, {spec.steps} steps")
    with quiet_datasets():
        trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=heldout,
                             processing_class=tokenizer)
    attach_callbacks(trainer, progress, log)
    metrics: dict[str, Any] = {}
    if heldout is not None and len(heldout):
        metrics["heldout_loss_before"] = float(trainer.evaluate()["eval_loss"])
    result = trainer.train()
    metrics.update(train_loss=float(result.training_loss), train_seconds=round(result.metrics["train_runtime"], 1),
                   steps_per_second=round(spec.steps / max(result.metrics["train_runtime"], 1e-9), 4))
    if heldout is not None and len(heldout):
        metrics["heldout_loss"] = float(trainer.evaluate()["eval_loss"])
    return metrics


def _parent(store: Any, role: str, spec: BaseRecipe, parent_version: int | None) -> Any:
    from oversight.store import active_version, get_version

    if parent_version is not None:
        parent = get_version(store, parent_version)
        if parent is None:
            raise OversightError(f"no model version {parent_version} (given as the version to continue)")
        if parent.role != "base" or parent.kind != "adapter":
            raise OversightError(f"version {parent_version} is a {parent.role} {parent.kind}, not a base adapter")
        return parent
    if role == "base" and spec.init == "active":
        return active_version(store, "base")
    return None


def _adapter_of(version: Any) -> Path:
    folder = Path(version.path)
    adapter = VersionManifest.read(folder).adapter_path(folder)
    if adapter is None or not (adapter / "adapter_config.json").exists():
        raise OversightError(f"version {version.id} at {folder} has no LoRA adapter folder")
    return adapter
