"""Recipe for a LoRA adapter trained by supervised fine-tuning (TRL SFTTrainer), validated in one place.

Written as roles/recipes/<role>.yaml; any field can be overridden on the
command line (`--set steps=2`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SFTTask = Literal["revision", "critique"]


class SFTRecipe(BaseModel):
    """How to teach a generative role (reviser, critic critiques) from written demonstrations."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["reviser", "critic"] = Field(description="which role registers the adapter")
    kind: Literal["sft"] = "sft"
    tasks: tuple[SFTTask, ...] = Field(
        default=("revision", "critique"), min_length=1,
        description="demonstrations to learn from: revision (draft + critique -> rewrite) and/or critique "
                    "(principle + draft -> critique); both in one adapter lets critic and reviser share it")
    steps: int = Field(default=48, ge=1, description="optimizer steps")
    batch_size: int = Field(default=8, ge=1, description="sequences per step")
    learning_rate: float = Field(default=1e-3, gt=0, le=1)
    warmup_steps: int = Field(default=4, ge=0)
    lora_r: int = Field(default=16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        description="linear layers that get LoRA matrices")
    top_layers: int | None = Field(
        default=12, ge=1, description="put LoRA only on the top N transformer layers (backward stops there: "
                                      "about twice as fast on CPU); null for all layers")
    max_length: int = Field(default=384, ge=32, description="tokens per training sequence (longer are cut)")
    dtype: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="dtype of the frozen base during training (auto: bfloat16 where the hardware "
                                    "computes it natively, else float32); LoRA weights stay float32")
    max_items: int | None = Field(default=None, ge=1, description="use at most this many demonstrations")
    eval_items: int = Field(default=40, ge=1, description="held-out demonstrations scored for the held-out loss")
    eval_generations: int = Field(default=6, ge=0,
                                  description="held-out revision prompts generated after training (rewrite check)")
    seed: int = 0

    @model_validator(mode="after")
    def _alpha(self) -> SFTRecipe:
        if self.role == "critic" and "critique" not in self.tasks:
            raise ValueError("a critic adapter must learn the 'critique' task")
        return self
