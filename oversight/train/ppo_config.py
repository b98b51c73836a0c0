"""Recipe for PPO on the base role's LoRA adapter, validated in one place.

Written as roles/recipes/base_ppo.yaml; any field can be overridden on the
command line (`--set iterations=4`). An unknown key is a one-line error naming
the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oversight.declared import apply_overrides, read_yaml, validate
from oversight.errors import ConfigError


class PPORecipe(BaseModel):
    """One PPO run: rollouts through the runtime, then clipped-surrogate epochs on each rollout batch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algo: Literal["ppo"] = Field(default="ppo", description="always ppo (the file is roles/recipes/base_ppo.yaml)")
    init: Literal["active", "bare"] = Field(
        default="bare", description="active: continue the base role's active adapter (bare model when none is "
                                    "active); bare: a fresh LoRA adapter, so the run starts from the bare model")
    iterations: int = Field(default=20, ge=1, description="rollout + update rounds")
    prompts_per_iteration: int = Field(default=8, ge=1, description="prompts drawn (cycling, shuffled) per round")
    samples_per_prompt: int = Field(default=2, ge=1, description="sampled answers per prompt per round")
    max_new_tokens: int = Field(default=48, ge=1, le=1024, description="answer length limit during rollouts")
    temperature: float = Field(
        default=1.0, gt=0, le=2, description="rollout sampling temperature; log-probabilities use the same one, so "
                                             "the samples come from the policy being optimised (no top-p cut)")
    ppo_epochs: int = Field(default=2, ge=1, description="passes over each rollout batch")
    minibatch_size: int = Field(default=8, ge=1, description="answers per gradient step")
    learning_rate: float = Field(default=1e-3, gt=0, le=1, description="AdamW step size of the LoRA matrices")
    value_learning_rate: float = Field(default=1e-2, gt=0, le=1, description="AdamW step size of the value head")
    clip_range: float = Field(default=0.2, gt=0, lt=1, description="policy ratio clipped to 1 +- this")
    clip_range_value: float = Field(default=0.2, gt=0, description="value change per update clipped to +- this")
    vf_coef: float = Field(default=0.5, ge=0, description="weight of the value loss")
    kl_coef: float = Field(default=0.05, ge=0, description="per-token KL penalty against the reference (bare) model")
    gamma: float = Field(default=1.0, gt=0, le=1, description="discount over answer tokens")
    lam: float = Field(default=0.95, ge=0, le=1, description="GAE lambda (bias-variance trade-off of advantages)")
    whiten_advantages: bool = Field(default=True, description="normalise advantages per rollout batch")
    max_grad_norm: float = Field(default=1.0, gt=0, description="gradient norm clip")
    lora_r: int = Field(default=16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(default=32, ge=1)
    target_modules: tuple[str, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        description="linear layers that get LoRA matrices")
    top_layers: int | None = Field(
        default=12, ge=1, description="LoRA only on the top N transformer layers (backward stops there); "
                                      "null for all layers")
    reward_model: str | int | None = Field(
        default=None, description="reward model: 'active' (the active version of role `reward`), a registry "
                                  "version id, or an adapter folder; null when the caller passes a reward function")
    reward_model_weight: float = Field(default=1.0, ge=0, description="weight of the reward model's score")
    safety_weight: float = Field(
        default=0.0, ge=0, description="minus this times the safety head's P(answer harmful) is added to the reward")
    judge_weight: float = Field(
        default=0.0, ge=0, description="this times (judge's P(answer beats the reference model's greedy answer) - "
                                       "0.5) is added to the reward")
    eval_max_new_tokens: int | None = Field(
        default=None, ge=1, description="answer length of the greedy held-out check; null: max_new_tokens")
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> PPORecipe:
        if self.minibatch_size > self.rollout_size:
            raise ValueError(f"minibatch_size {self.minibatch_size} is larger than a rollout batch "
                             f"(prompts_per_iteration x samples_per_prompt = {self.rollout_size})")
        return self

    @property
    def rollout_size(self) -> int:
        return self.prompts_per_iteration * self.samples_per_prompt


def recipe_path(name: str, project_dir: Path) -> Path:
    return project_dir / "roles" / "recipes" / f"{name}.yaml"


def load_ppo_recipe(name: str, project_dir: Path, overrides: list[str] | tuple[str, ...] = ()) -> PPORecipe:
    """roles/recipes/NAME.yaml plus `key=value` overrides, validated (one-line ConfigError on any problem)."""
    path = recipe_path(name, project_dir)
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, list(overrides), path)
    if data.get("algo", "ppo") != "ppo":
        raise ConfigError(path, "algo", "a PPO recipe must say algo: ppo", data.get("algo"))
    return validate(PPORecipe, data, path)
