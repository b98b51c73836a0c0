"""Reward-model recipe for the base model (TRL 1.16 RewardTrainer), validated in one place.

The reward model is the base model with a scalar head (sequence classification)
and a LoRA adapter; it is registered under role `reward` and scores answers for
PPO.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from oversight.train.base_recipe import BaseRecipe


class RewardRecipe(BaseRecipe):
    """Bradley-Terry reward model on preference pairs."""

    algo: Literal["reward"] = "reward"
    init: Literal["active", "bare"] = Field(
        default="bare", description="a reward model always starts from the bare model plus a new head; "
                                    "'active' is accepted for symmetry and means the same")
    learning_rate: float = Field(default=5e-4, gt=0, le=1)
    center_rewards_coefficient: float | None = Field(
        default=0.01, ge=0, description="pull mean reward towards 0 (TRL center_rewards_coefficient); null: off")
    probability_margin: float = Field(
        default=0.0, ge=0, description="soft labels: each pair must be separated by this times "
                                       "logit(probability) (TRL margin column); 0 ignores probabilities")
