"""DPO recipe for the base role (TRL 1.16 DPOTrainer), validated in one place.

TRL 1.16 has no `rpo_alpha` field any more: the RPO likelihood term on the
chosen answer is the loss list `["sigmoid", "sft"]` with weights `[1, rpo_alpha]`.
`to_trl_loss` turns this recipe into those fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from oversight.train.base_recipe import BaseRecipe


class DPORecipe(BaseRecipe):
    """Preference optimisation with a likelihood term, after SFT (constitutional AI's order)."""

    algo: Literal["dpo"] = "dpo"
    beta: float = Field(default=0.1, gt=0, description="KL strength: higher stays closer to the reference policy")
    rpo_alpha: float = Field(
        default=1.0, ge=0, description="weight of the negative log-likelihood of the chosen answer added to the DPO "
                                       "loss (RPO); 0 for plain DPO, which made this model refuse less")
    soft_labels: bool = Field(
        default=True, description="use the rows' preference probability: robust DPO with label smoothing "
                                  "= mean(1 - probability) of the rows, capped at max_label_smoothing")
    max_label_smoothing: float = Field(default=0.3, ge=0, lt=0.5,
                                       description="upper bound on the label smoothing soft labels give")

    def to_trl_loss(self, mean_probability: float | None) -> dict[str, object]:
        """DPOConfig fields: loss_type, loss_weights, label_smoothing, beta."""
        smoothing = 0.0
        if self.soft_labels and mean_probability is not None:
            smoothing = min(self.max_label_smoothing, max(0.0, 1.0 - mean_probability))
        pair_loss = "robust" if smoothing > 0 else "sigmoid"
        losses, weights = [pair_loss], [1.0]
        if self.rpo_alpha > 0:
            losses.append("sft")
            weights.append(self.rpo_alpha)
        return {"loss_type": losses, "loss_weights": weights, "label_smoothing": round(smoothing, 4),
                "beta": self.beta}
