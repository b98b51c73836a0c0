"""Sizes of the alignment loop's stages (`loop` command), validated in one place.

The defaults fit an hour on 2 CPU cores with the embedded model; `quick()` is the
seconds-to-minutes version a test runs end to end.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoopConfig(BaseModel):
    """What the loop evaluates, how much constitutional data it generates, how long it trains."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suite: str = Field(default="loop", description="eval suite (evals/suites/NAME.jsonl) measured before and after")
    eval_split: str | None = Field(default=None, description="suite split to run (None: every item)")
    eval_limit: int | None = Field(default=None, ge=1, description="at most this many suite items")
    graph_spec: str = Field(default="default", description="the overseen graph evaluated before and after")
    datagen_spec: str = Field(default="generate", description="graph spec that writes constitutional data")
    datagen_prompts: int = Field(default=96, ge=1, description="training prompts run through the datagen graph")
    # 0.6 taught the bare model to refuse: a full run's SFT candidate refused 53% of benign items (from 0%).
    harmful_share: float = Field(default=0.4, ge=0, le=1,
                                 description="share of datagen prompts that are harmful or jailbreaks (rest benign)")
    export_min_confidence: float = Field(default=0.6, ge=0, le=1,
                                         description="AI preference pairs less sure than this are not exported")
    sft_recipe: str = Field(default="base_sft", description="recipe of the supervised stage")
    dpo_recipe: str = Field(default="base_dpo", description="recipe of the preference stage (continues the SFT one)")
    sft_overrides: tuple[str, ...] = Field(default=(), description="--set overrides of the SFT recipe")
    dpo_overrides: tuple[str, ...] = Field(default=(), description="--set overrides of the DPO recipe")
    skip_graph_eval: bool = Field(default=False, description="measure the base model only (faster)")
    concurrency: int = Field(default=32, ge=1, description="prompts in flight at once in graph and eval runs")
    seed: int = 0

    @classmethod
    def quick(cls, **changes: object) -> LoopConfig:
        """A tiny end-to-end run: a few items, a few prompts, two training steps each."""
        tiny = ("steps=2", "batch_size=2", "eval_rows=2", "max_length=128", "top_layers=2", "min_probability=0")
        # 12 prompts, not 4: answers cut at the token limit are not exported (8 prompts once kept 2 rows,
        # 12 kept 6 and a preference pair), and 4 could all be cut
        base = dict(eval_limit=6, datagen_prompts=12, sft_overrides=tiny[:-1], dpo_overrides=tiny,
                    concurrency=8, export_min_confidence=0.0)
        return cls(**{**base, **changes})  # type: ignore[arg-type]
