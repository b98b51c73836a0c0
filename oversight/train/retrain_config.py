"""The retraining job's plan (roles/recipes/retrain.yaml plus `--set` overrides), validated in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oversight.declared import apply_overrides, read_yaml, validate
from oversight.eval.gate import GateSettings
from oversight.train.base_recipe import recipe_file


class Stage(BaseModel):
    """One training step of the plan; each later stage continues the previous stage's candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algo: Literal["sft", "dpo"] = Field(description="sft (final answers) or dpo (preference pairs)")
    recipe: str = Field(description="recipe name under roles/recipes/ (base_sft, base_dpo) or a .yaml path")
    set: list[str] = Field(default_factory=list, description="recipe overrides for this stage, key=value")


class ExportPlan(BaseModel):
    """How the job's export selects and splits its data (see `export --help`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0, description="AI pairs below this are left out")
    heldout_fraction: float = Field(default=0.1, ge=0.0, lt=1.0,
                                    description="share of prompts held out (stable hash of the prompt)")
    scrub: bool = Field(default=True, description="mask personal data in the exported text")
    human_weight: float = Field(default=2.0, gt=0.0, description="weight of human rows")


class EvalPlan(BaseModel):
    """What the gate measures candidate and active version on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suites: str | list[str] = Field(default="all", description="eval suite names, or all")
    split: str = Field(default="test", description="suite split to run")
    limit: int | None = Field(default=None, ge=1, description="at most this many items per suite (small gates)")
    heldout_prompts: int = Field(default=32, ge=0,
                                 description="held-out export prompts whose answers the judge compares too")
    heldout_pairs: int = Field(default=256, ge=0,
                               description="held-out preference pairs both versions rank (heldout_preference)")


class RetrainConfig(BaseModel):
    """When the job trains, what it trains with, and what a candidate must pass to be promoted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["base"] = Field(default="base", description="the role the job retrains")
    min_new_trajectories: int = Field(default=20, ge=1,
                                      description="resolved trajectories since the last retrain needed to train")
    stages: list[Stage] = Field(min_length=1, description="training stages, in order (SFT, then DPO)")
    train: dict[str, Any] = Field(default_factory=dict,
                                  description="recipe overrides for every stage, e.g. train.steps=2")
    export: ExportPlan = Field(default_factory=ExportPlan)
    eval: EvalPlan = Field(default_factory=EvalPlan)
    gate: GateSettings = Field(default_factory=GateSettings)
    keep_retired: int = Field(default=3, ge=0, description="retired versions (with files) kept for rollback")
    keep_exports: int = Field(default=3, ge=1, description="export folders of past retrain runs kept")
    lease_ttl_s: float = Field(default=300.0, ge=2.0,
                               description="lock lifetime, renewed while running; a killed job frees it after this")

    def stage_overrides(self, stage: Stage) -> list[str]:
        return [f"{k}={v}" for k, v in self.train.items()] + list(stage.set)


def config_path(name: str | Path, project_dir: Path) -> Path:
    return recipe_file(name or "retrain", project_dir)


def load_retrain_config(name: str | Path, project_dir: Path, overrides: list[str] | None = None,
                        recipe: str | None = None) -> RetrainConfig:
    """The plan file with `--set` overrides; `recipe` replaces the stages by that one training recipe."""
    path = config_path(name, project_dir)
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, list(overrides), path)
    if recipe is not None:
        algo = read_yaml(recipe_file(recipe, project_dir)).get("algo")
        data["stages"] = [{"algo": algo, "recipe": recipe}]
    config = validate(RetrainConfig, data, path)
    for i, stage in enumerate(config.stages):
        if not recipe_file(stage.recipe, project_dir).is_file():
            from oversight.errors import ConfigError

            raise ConfigError(path, f"stages[{i}].recipe", "no such recipe under roles/recipes/", stage.recipe)
    return config
