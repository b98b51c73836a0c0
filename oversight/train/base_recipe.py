"""Recipes for training the base role's LoRA adapter (sft, dpo, reward), validated in one place.

Written as roles/recipes/base_<algo>.yaml and read by base_recipes.py. The DPO
and reward recipes extend `BaseRecipe` in dpo_config.py and reward_config.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


Algo = Literal["sft", "dpo", "reward"]


class BaseRecipe(BaseModel):
    """What every base-model training run needs: LoRA shape, optimisation, data limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algo: Algo = Field(description="which trainer: sft (SFTTrainer), dpo (DPOTrainer) or reward (RewardTrainer)")
    init: Literal["active", "bare"] = Field(
        default="active", description="active: continue the base role's active adapter (bare model when none "
                                      "is active); bare: a fresh LoRA adapter on the bare model")
    steps: int = Field(default=40, ge=1, description="optimizer steps")
    batch_size: int = Field(default=4, ge=1, description="examples (or pairs) per step")
    gradient_accumulation_steps: int = Field(default=1, ge=1, description="batches per optimizer step")
    learning_rate: float = Field(default=2e-4, gt=0, le=1)
    warmup_steps: int = Field(default=2, ge=0)
    lora_r: int = Field(default=8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(default=16, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        description="linear layers that get LoRA matrices")
    top_layers: int | None = Field(
        default=12, ge=1, description="LoRA only on the top N transformer layers (backward stops there: about "
                                      "twice as fast on CPU); null for all layers")
    max_length: int = Field(default=256, ge=32, description="tokens per sequence, prompt and answer (longer are cut)")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="dtype of the frozen base during training (auto: bfloat16 where the hardware "
                                    "computes it natively, else float32); LoRA weights stay float32")
    max_rows: int | None = Field(default=None, ge=1, description="use at most this many training rows")
    eval_rows: int = Field(default=32, ge=0, description="held-out rows scored before and after training")
    min_probability: float = Field(
        default=0.5, ge=0, le=1, description="preference rows whose probability (chosen better) is below this are "
                                             "left out (AI labels too unsure to learn from)")
    seed: int = 0


class BaseSFTRecipe(BaseRecipe):
    """Supervised fine-tuning on final (revised or human) answers: constitutional AI's first stage."""

    algo: Literal["sft"] = "sft"
    sample_weights: bool = Field(
        default=False, description="repeat rows by their export weight (human rows count more); rounds to "
                                   "whole repeats, at most 3")


def recipe_file(name: str | Path, project_dir: Path) -> Path:
    """`base_dpo` -> roles/recipes/base_dpo.yaml; a path ending in .yaml is taken as is."""
    path = Path(name)
    if path.suffix in {".yaml", ".yml"}:
        return path
    return project_dir / "roles" / "recipes" / f"{name}.yaml"
