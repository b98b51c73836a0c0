"""Supervised fine-tuning of a LoRA adapter on written demonstrations (TRL SFTTrainer + PEFT).

This is the supervised stage of constitutional AI: the small model learns what
a critique and a rewrite look like from the constitution's demonstrations.
Chats are built by `PromptBook`, the same code inference uses; loss is on the
completion only. The base weights are a frozen private copy: only LoRA
matrices change, and the converted model on disk is never written.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oversight.constitution import Constitution
from oversight.errors import OversightError
from oversight.roles import RolesFile
from oversight.runtime.prompts import PromptBook
from oversight.train.material import CritiqueDemo, load_material
from oversight.train.rewrite_checks import is_refusal, is_rewrite, restates_critique
from oversight.train.sft_config import SFTRecipe


@dataclass
class SFTResult:
    adapter_dir: Path
    metrics: dict[str, Any]
    samples: list[dict[str, str]]


def build_examples(recipe: SFTRecipe, book: PromptBook, constitution: Constitution, split: str
                   ) -> list[dict[str, Any]]:
    """Prompt-completion conversational rows (TRL format) for the recipe's tasks."""
    material = load_material(constitution, "critique_revision")
    material.require_splits("train", "heldout")
    demos: list[CritiqueDemo] = material.split(split)  # type: ignore[assignment]
    if recipe.max_items is not None and len(demos) > recipe.max_items:
        demos = random.Random(recipe.seed).sample(demos, recipe.max_items)
    rows: list[dict[str, Any]] = []
    for demo in demos:
        principle = constitution.principle(demo.principle)
        if "revision" in recipe.tasks and demo.violates and demo.revision:
            chat = book.revise(demo.prompt, demo.response, [(principle, demo.critique)])
            rows.append({"prompt": chat, "completion": [{"role": "assistant", "content": demo.revision}]})
        if "critique" in recipe.tasks:
            chat = book.critic_critique(principle, demo.prompt, demo.response)
            rows.append({"prompt": chat, "completion": [{"role": "assistant", "content": demo.critique}]})
    if not rows:
        raise OversightError(f"no {split} demonstrations for tasks {list(recipe.tasks)} in "
                             f"{', '.join(map(str, material.files))}")
    return rows


def train_adapter(recipe: SFTRecipe, settings_models_dir: Path, roles_file: RolesFile, constitution: Constitution,
                  out_dir: Path, *, runtime: Any = None, progress: bool = True,
                  log: Callable[[str], None] = lambda _m: None) -> SFTResult:
    """Train the adapter into out_dir/adapter; report held-out loss and (with a runtime) a rewrite check."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from oversight.runtime.loading import dtype_name, load_base, load_tokenizer, pick_device

    book = PromptBook(roles_file)
    role = recipe.role
    model_cfg = roles_file.model_for(role)
    train_rows = build_examples(recipe, book, constitution, "train")
    eval_rows = build_examples(recipe, book, constitution, "heldout")
    if len(eval_rows) > recipe.eval_items:  # the held-out loss is a progress check; a sample keeps it cheap
        eval_rows = random.Random(recipe.seed).sample(eval_rows, recipe.eval_items)
    device = runtime.device_for(model_cfg) if runtime is not None else pick_device(model_cfg.device)
    dtype = dtype_name(recipe.dtype, device)
    model = load_base(model_cfg, settings_models_dir, dtype=getattr(torch, dtype), device=device)
    tokenizer = load_tokenizer(model_cfg, settings_models_dir)
    tokenizer.padding_side = "right"
    layers = int(model.config.num_hidden_layers)
    lora = LoraConfig(
        r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.target_modules), task_type="CAUSAL_LM",
        layers_to_transform=(list(range(max(0, layers - recipe.top_layers), layers))
                             if recipe.top_layers else None))
    work = out_dir / "_trainer"
    args = SFTConfig(
        output_dir=str(work), max_steps=recipe.steps, per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
        warmup_steps=recipe.warmup_steps, lr_scheduler_type="linear", seed=recipe.seed,
        logging_steps=max(1, recipe.steps // 8), save_strategy="no", report_to=[],
        bf16=dtype == "bfloat16", fp16=False, gradient_checkpointing=False,
        use_cpu=device == "cpu", dataloader_num_workers=0, max_length=recipe.max_length,
        completion_only_loss=True, disable_tqdm=not progress, shuffle_dataset=True)
    log(f"{role}: fine-tuning a LoRA adapter (r={recipe.lora_r}, top {recipe.top_layers or layers} layers) "
        f"on {len(train_rows)} demonstrations ({', '.join(recipe.tasks)}), {recipe.steps} steps")
    from datasets.utils import logging as datasets_logging

    datasets_logging.disable_progress_bar()  # tokenizing a few hundred rows is instant: no bars
    try:
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(train_rows),
                             eval_dataset=Dataset.from_list(eval_rows), processing_class=tokenizer,
                             peft_config=lora)
    finally:
        datasets_logging.enable_progress_bar()
    _quiet_logs(trainer, progress)
    before = trainer.evaluate()["eval_loss"]
    history = trainer.train()
    after = trainer.evaluate()["eval_loss"]
    adapter_dir = out_dir / "adapter"
    trainer.model.save_pretrained(str(adapter_dir))
    shutil.rmtree(work, ignore_errors=True)
    metrics: dict[str, Any] = {
        "heldout_loss_before": float(before), "heldout_loss": float(after),
        "train_loss": float(history.training_loss), "steps": recipe.steps,
        "train_examples": len(train_rows), "heldout_examples": len(eval_rows), "tasks": list(recipe.tasks)}
    samples: list[dict[str, str]] = []
    if runtime is not None and recipe.eval_generations and "revision" in recipe.tasks:
        samples = rewrite_samples(runtime, roles_file, constitution, adapter_dir, recipe.eval_generations)
        metrics.update(rewrite_metrics(samples))
    del trainer, model
    return SFTResult(adapter_dir, metrics, samples)


def _quiet_logs(trainer: Any, progress: bool) -> None:
    """Keep the step progress bar (when wanted) but stop the trainer printing raw log dicts."""
    from transformers import PrinterCallback, ProgressCallback

    class StepBar(ProgressCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            return None

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if progress:
        trainer.add_callback(StepBar())


def heldout_revision_cases(constitution: Constitution, count: int) -> list[CritiqueDemo]:
    """Violating held-out demonstrations, spread over principles (harmful requests first)."""
    demos = [d for d in load_material(constitution, "critique_revision").split("heldout")
             if isinstance(d, CritiqueDemo) and d.violates]
    order = [p.id for p in constitution.by_priority()]
    demos.sort(key=lambda d: (order.index(d.principle), d.id))
    picked: list[CritiqueDemo] = []
    seen: set[str] = set()
    for demo in demos + demos:  # one per principle first, then fill
        if len(picked) == count:
            break
        if demo in picked or (demo.principle in seen and len(seen) < len({d.principle for d in demos})):
            continue
        seen.add(demo.principle)
        picked.append(demo)
    return picked


def rewrite_samples(runtime: Any, roles_file: RolesFile, constitution: Constitution, adapter_dir: Path,
                    count: int) -> list[dict[str, str]]:
    """Revise held-out drafts through the serving path (runtime + adapter), as the graph will."""
    book = PromptBook(roles_file)
    cases = heldout_revision_cases(constitution, count)
    handle = runtime.handle(roles_file.model_for("reviser"), adapter_dir)
    chats = [book.revise(c.prompt, c.response, [(constitution.principle(c.principle), c.critique)]) for c in cases]
    outputs = handle.generate(chats, roles_file.roles["reviser"].generation)
    return [{"id": c.id, "principle": c.principle, "prompt": c.prompt, "draft": c.response,
             "critique": c.critique, "revision": o.text} for c, o in zip(cases, outputs, strict=True)]


def rewrite_metrics(samples: list[dict[str, str]]) -> dict[str, float]:
    if not samples:
        return {}
    rewrites = [is_rewrite(s["revision"], s["draft"], s["critique"]) for s in samples]
    restated = [restates_critique(s["revision"], s["critique"]) for s in samples]
    harmful = [s for s in samples if s["principle"] == "harmful-instructions"]
    out = {"rewrite_rate": sum(rewrites) / len(samples), "restated_critique_rate": sum(restated) / len(samples),
           "rewrite_checked": len(samples)}
    if harmful:
        out["refusal_rate_harmful"] = sum(is_refusal(s["revision"]) for s in harmful) / len(harmful)
    return out
