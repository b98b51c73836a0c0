"""Direct preference optimisation of the base role's adapter (TRL 1.16 DPOTrainer).

The reference policy is the starting point without a second model in memory:
a fresh adapter's reference is the bare model (adapters disabled); when the
run continues an adapter (after SFT, as constitutional AI orders it), TRL keeps
a frozen copy of it as adapter `ref`. The recipe's `rpo_alpha` adds the
likelihood of the chosen answer, which kept DPO from teaching this small model
to refuse less.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from oversight.train.base_data import BaseData, mean_probability
from oversight.train.dpo_config import DPORecipe
from oversight.train.lora_setup import attach_callbacks, common_args, quiet_datasets

PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def pairs_dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([{k: r[k] for k in PAIR_COLUMNS} for r in rows])


def run_dpo(recipe: DPORecipe, model: Any, tokenizer: Any, data: BaseData, work: Path, *, progress: bool = True,
            log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Train `model`'s `default` adapter in place; return held-out and training metrics."""
    from trl import DPOConfig, DPOTrainer

    loss = recipe.to_trl_loss(mean_probability(data.train))
    device = "cpu" if model.device.type == "cpu" else model.device.type
    args = DPOConfig(**common_args(recipe, work, progress, device), **loss)  # type: ignore[arg-type]
    heldout = data.heldout[: recipe.eval_rows] if recipe.eval_rows else []
    log(f"base: DPO on {len(data.train)} pairs, {recipe.steps} steps (loss {'+'.join(loss['loss_type'])}, "
        f"weights {loss['loss_weights']}, beta {recipe.beta}, label smoothing {loss['label_smoothing']})")
    with quiet_datasets():
        trainer = DPOTrainer(model=model, args=args, train_dataset=pairs_dataset(data.train),
                             eval_dataset=pairs_dataset(heldout) if heldout else None, processing_class=tokenizer)
    attach_callbacks(trainer, progress, log)
    metrics: dict[str, Any] = {"loss_type": loss["loss_type"], "loss_weights": loss["loss_weights"],
                               "label_smoothing": loss["label_smoothing"]}
    if heldout:
        before = trainer.evaluate()
        metrics["heldout_reward_accuracy_before"] = float(before.get("eval_rewards/accuracies", 0.0))
        metrics["heldout_loss_before"] = float(before["eval_loss"])
    result = trainer.train()
    metrics.update(train_loss=float(result.training_loss), train_seconds=round(result.metrics["train_runtime"], 1),
                   steps_per_second=round(recipe.steps / max(result.metrics["train_runtime"], 1e-9), 4))
    last = next((h for h in reversed(trainer.state.log_history) if "rewards/accuracies" in h), {})
    if last:
        metrics["train_reward_accuracy"] = float(last["rewards/accuracies"])
        metrics["train_reward_margin"] = float(last.get("rewards/margins", 0.0))
    if heldout:
        after = trainer.evaluate()
        metrics["heldout_reward_accuracy"] = float(after.get("eval_rewards/accuracies", 0.0))
        metrics["heldout_reward_margin"] = float(after.get("eval_rewards/margins", 0.0))
        metrics["heldout_loss"] = float(after["eval_loss"])
    return metrics
