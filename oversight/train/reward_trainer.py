"""A reward model on preference pairs (TRL 1.16 RewardTrainer), and scoring with it.

The reward model is the embedded base model with a scalar head and a LoRA
adapter, registered under role `reward`; PPO reads its scores through
`RewardScorer`. Soft AI labels enter as TRL's margin column: a pair must be
separated by `probability_margin * logit(probability)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from oversight.train.base_data import BaseData
from oversight.train.lora_setup import attach_callbacks, common_args, quiet_datasets, seqcls_quiet
from oversight.train.reward_config import RewardRecipe


def reward_dataset(rows: list[dict[str, Any]], margin: float) -> Any:
    from datasets import Dataset

    out = []
    for row in rows:
        item = {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}
        if margin > 0:
            p = min(max(float(row.get("probability") or 1.0), 0.5), 0.99)
            item["margin"] = margin * math.log(p / (1 - p))
        out.append(item)
    return Dataset.from_list(out)


def run_reward(recipe: RewardRecipe, model: Any, tokenizer: Any, data: BaseData, work: Path, *,
               progress: bool = True, log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Train the reward model's adapter and head in place; return held-out accuracy and training metrics."""
    from trl import RewardConfig, RewardTrainer

    device = "cpu" if model.device.type == "cpu" else model.device.type
    args = RewardConfig(**common_args(recipe, work, progress, device),  # type: ignore[arg-type]
                        center_rewards_coefficient=recipe.center_rewards_coefficient)
    heldout = data.heldout[: recipe.eval_rows] if recipe.eval_rows else []
    log(f"reward: Bradley-Terry reward model on {len(data.train)} pairs, {recipe.steps} steps")
    with quiet_datasets():
        trainer = RewardTrainer(model=model, args=args,
                                train_dataset=reward_dataset(data.train, recipe.probability_margin),
                                eval_dataset=reward_dataset(heldout, recipe.probability_margin) if heldout else None,
                                processing_class=tokenizer)
    attach_callbacks(trainer, progress, log)
    metrics: dict[str, Any] = {}
    if heldout:
        metrics["heldout_accuracy_before"] = float(trainer.evaluate().get("eval_accuracy", 0.0))
    result = trainer.train()
    metrics.update(train_loss=float(result.training_loss), train_seconds=round(result.metrics["train_runtime"], 1),
                   steps_per_second=round(recipe.steps / max(result.metrics["train_runtime"], 1e-9), 4))
    if heldout:
        after = trainer.evaluate()
        metrics["heldout_accuracy"] = float(after.get("eval_accuracy", 0.0))
        metrics["heldout_margin"] = float(after.get("eval_margin", 0.0))
    return metrics


class RewardScorer:
    """Scores (chat, answer) pairs with a trained reward model folder (the version's `adapter`).

    `dtype: auto`: bfloat16 where the device computes it natively (about ten times faster than float32 on
    CPUs with bf16 units), else float32 (runtime/loading.py `pick_dtype`).
    """

    def __init__(self, adapter_dir: Path, model_folder: str, *, device: str = "cpu", max_length: int = 512,
                 dtype: str = "auto") -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from oversight.runtime.loading import dtype_name

        self.tokenizer = AutoTokenizer.from_pretrained(model_folder)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        with seqcls_quiet():  # the head's weights come from the adapter folder below
            base = AutoModelForSequenceClassification.from_pretrained(model_folder, num_labels=1,
                                                                      dtype=getattr(torch, dtype_name(dtype, device)))
        base.config.pad_token_id = self.tokenizer.pad_token_id
        self.model = PeftModel.from_pretrained(base, str(adapter_dir)).to(device).eval()
        self.device, self.max_length = device, max_length

    def score(self, prompts: Sequence[list[dict[str, str]]], answers: Sequence[str], batch_size: int = 8
              ) -> list[float]:
        """The scalar reward of each answer to its chat prompt (higher is better)."""
        import torch

        texts = [self.tokenizer.apply_chat_template([*p, {"role": "assistant", "content": a}], tokenize=False)
                 for p, a in zip(prompts, answers, strict=True)]
        scores: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                                       truncation=True, max_length=self.max_length).to(self.device)
                scores.extend(self.model(**batch).logits[:, 0].float().tolist())
        return scores
