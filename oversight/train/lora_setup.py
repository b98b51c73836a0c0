"""The trainable model every base-model trainer starts from, and the trainer callbacks they share.

The base weights are a frozen private copy loaded by runtime/loading.py (the
same weights, dtype and tokenizer serving uses); only LoRA matrices (and the
reward model's score head) train. Continuing a registered adapter loads it as
trainable; otherwise a fresh LoRA adapter goes on the top layers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from oversight.roles import ModelConfig
from oversight.train.base_recipe import BaseRecipe

LOGGED = ("loss", "rewards/accuracies", "rewards/margins", "accuracy", "margin", "mean_token_accuracy",
          "eval_loss", "eval_rewards/accuracies", "eval_accuracy", "learning_rate")


def lora_config(recipe: BaseRecipe, layers: int, task_type: str) -> Any:
    from peft import LoraConfig

    top = recipe.top_layers
    return LoraConfig(
        r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.target_modules), task_type=task_type,
        layers_to_transform=list(range(max(0, layers - top), layers)) if top else None)


def policy_model(recipe: BaseRecipe, model_cfg: ModelConfig, models_dir: Path, parent_adapter: Path | None
                 ) -> tuple[Any, Any]:
    """A PEFT causal LM (adapter named `default`, trainable) and its tokenizer (right padding for training)."""
    import torch
    from peft import PeftModel, get_peft_model

    from oversight.runtime.loading import dtype_name, load_base, load_tokenizer, pick_device

    device = pick_device(model_cfg.device)
    model = load_base(model_cfg, models_dir, dtype=getattr(torch, dtype_name(recipe.dtype, device)), device=device)
    tokenizer = load_tokenizer(model_cfg, models_dir)
    tokenizer.padding_side = "right"
    if parent_adapter is not None:
        peft_model = PeftModel.from_pretrained(model, str(parent_adapter), is_trainable=True)
    else:
        peft_model = get_peft_model(model, lora_config(recipe, int(model.config.num_hidden_layers), "CAUSAL_LM"))
    return peft_model, tokenizer


def reward_model(recipe: BaseRecipe, model_cfg: ModelConfig, models_dir: Path) -> tuple[Any, Any]:
    """The base model with a scalar score head (sequence classification) and a fresh LoRA adapter."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForSequenceClassification

    from oversight.runtime.loading import dtype_name, load_tokenizer, model_folder, pick_device

    device = pick_device(model_cfg.device)
    dtype = getattr(torch, dtype_name(recipe.dtype, device))
    tokenizer = load_tokenizer(model_cfg, models_dir)
    tokenizer.padding_side = "right"
    torch.manual_seed(recipe.seed)  # the score head starts random: a seed makes runs repeatable
    with seqcls_quiet():  # "score.weight MISSING" is expected: the head is new
        model = AutoModelForSequenceClassification.from_pretrained(model_folder(model_cfg, models_dir),
                                                                   num_labels=1, dtype=dtype)
    model.name_or_path = model_cfg.hub_id
    model.config._name_or_path = model_cfg.hub_id
    model.config.pad_token_id = tokenizer.pad_token_id
    peft_model = get_peft_model(model.to(device), lora_config(recipe, int(model.config.num_hidden_layers), "SEQ_CLS"))
    for param in peft_model.parameters():  # the score head copy keeps the base dtype; Adam wants float32
        if param.requires_grad:
            param.data = param.data.float()
    return peft_model, tokenizer


def common_args(recipe: BaseRecipe, work: Path, progress: bool, device: str) -> dict[str, Any]:
    """TrainingArguments fields every base trainer shares (TRL config classes take them all)."""
    from oversight.runtime.loading import dtype_name

    return dict(
        output_dir=str(work), max_steps=recipe.steps, per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.batch_size, gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        learning_rate=recipe.learning_rate, warmup_steps=recipe.warmup_steps, lr_scheduler_type="linear",
        seed=recipe.seed, logging_steps=max(1, recipe.steps // 8), save_strategy="no", report_to=[],
        bf16=dtype_name(recipe.dtype, device) == "bfloat16" and device == "cpu", fp16=False,
        gradient_checkpointing=False,
        use_cpu=device == "cpu", dataloader_num_workers=0, max_length=recipe.max_length,
        disable_tqdm=not progress)


def attach_callbacks(trainer: Any, progress: bool, log: Callable[[str], None]) -> None:
    """A step bar (when wanted) and one readable line per logging step instead of raw dicts."""
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    class StepBar(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            return None

    class MetricLines(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            shown = {k: v for k, v in (logs or {}).items() if k in LOGGED and isinstance(v, int | float)}
            if shown:
                log(f"  step {state.global_step}: "
                    + "  ".join(f"{k} {v:.4g}" for k, v in shown.items()))

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(StepBar())
    trainer.add_callback(MetricLines())


def quiet_datasets() -> Any:
    """Context: no `datasets` progress bars while TRL tokenizes a few hundred rows (instant)."""
    from contextlib import contextmanager

    from datasets.utils import logging as datasets_logging

    @contextmanager
    def scope() -> Any:
        datasets_logging.disable_progress_bar()
        try:
            yield
        finally:
            datasets_logging.enable_progress_bar()

    return scope()


def seqcls_quiet() -> Any:
    """Context: transformers' load report stays silent while a scalar head is created (it is new by design)."""
    from contextlib import contextmanager

    from transformers.utils import logging as hf_logging

    @contextmanager
    def scope() -> Any:
        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            yield
        finally:
            hf_logging.set_verbosity(level)

    return scope()
