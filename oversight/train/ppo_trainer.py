"""PPO for the base role's LoRA adapter (TRL 1.x no longer ships a PPO trainer).

Each iteration samples answers through the project's runtime (continuous batching,
the policy adapter served in place), scores them with a reward function, adds a
per-token KL penalty against the reference policy (the same model with the adapter
off), estimates advantages with GAE against a linear value head, and runs a few
epochs of clipped-surrogate minibatch steps. The adapter is updated in place inside
the runtime's model, so the next rollouts see the new weights at once; the runtime
is told (`adapter_changed`) so caches keyed by text are dropped. The result is
registered as a candidate version of the base role (never made active here: the
retraining job's gate decides).
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.runtime.engine import ModelHandle
from oversight.runtime.loading import LoadedModel
from oversight.settings import Settings
from oversight.train.ppo_config import PPORecipe, load_ppo_recipe
from oversight.train.ppo_losses import gae, ppo_loss, token_rewards, whiten
from oversight.train.ppo_rollout import RewardFn, Rollout, answer_pass, collect, sampled_kl, sample, select, value_head

VALUE_HEAD = "value_head.safetensors"


@dataclass
class PPOOutcome:
    version_id: int
    folder: Path
    metrics: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)  # one row per iteration


def train_ppo(settings: Settings, store: Any, *, recipe: str = "base_ppo", overrides: Sequence[str] = (),
              prompts: list[str], reward_fn: RewardFn | None = None, eval_prompts: list[str] | None = None,
              runtime: Any = None, roles_file: Any = None, progress: bool = True,
              log: Callable[[str], None] = print) -> PPOOutcome:
    """Run PPO on `prompts` and register the adapter as a candidate base version.

    `reward_fn(prompts, answers) -> scores`; None uses the recipe's reward model (with the safety and
    judge terms it names). `eval_prompts`, when given, are answered greedily before and after training
    (mean reward) and sampled once more for the KL to the reference.
    """
    from oversight.roles import load_roles
    from oversight.runtime.prompts import PromptBook

    prompts = _clean(prompts, "prompts")
    eval_prompts = _clean(eval_prompts, "eval_prompts") if eval_prompts is not None else None
    config = load_ppo_recipe(recipe, settings.project_dir, overrides)
    roles_file = roles_file or load_roles("default", settings.project_dir)
    own_runtime = runtime is None
    if own_runtime:
        from oversight.runtime import Runtime

        runtime = Runtime(settings.models_dir, max_batch=max(32, config.rollout_size))
    folder = settings.adapters_dir / "base" / datetime.now(UTC).strftime("ppo-%Y%m%d-%H%M%S-%f")
    try:
        if reward_fn is None:
            from oversight.train.ppo_rewards import recipe_reward

            reward_fn = recipe_reward(config, settings, store, runtime, roles_file)
        outcome = _run(config, settings, store, runtime, roles_file, PromptBook(roles_file).answer, folder,
                       prompts, eval_prompts, reward_fn, progress, log)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # never leave a half-written, unregistered version folder
        raise
    finally:
        if own_runtime:
            runtime.close()
    meta = f"recipe roles/recipes/{recipe}.yaml" + (f" with {' '.join(overrides)}" if overrides else "")
    log(f"ppo: registered candidate version {outcome.version_id} of role base ({meta}) -> {folder}")
    return outcome


def _clean(prompts: list[str] | None, what: str) -> list[str]:
    if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
        raise OversightError(f"ppo needs a non-empty list of non-blank {what}")
    return list(prompts)


def _run(config: PPORecipe, settings: Settings, store: Any, runtime: Any, roles_file: Any,
         chat: Callable[[str], Any], folder: Path, prompts: list[str], eval_prompts: list[str] | None,
         reward_fn: RewardFn, progress: bool, log: Callable[[str], None]) -> PPOOutcome:
    import torch
    from tqdm.auto import tqdm

    from oversight.runtime.versions import VersionManifest
    from oversight.store import register_version

    started = time.perf_counter()
    torch.manual_seed(config.seed)  # LoRA init and rollout sampling (the decoder draws from torch's generator)
    model_cfg = roles_file.model_for("base")
    handle, parent_id = _policy(config, settings, store, runtime, model_cfg, folder)
    loaded = handle.loaded
    head = value_head(loaded.hidden_size, loaded.device)
    params = [p for n, p in loaded.model.named_parameters() if f".{handle.adapter}." in n]
    optimizer = torch.optim.AdamW([{"params": params, "lr": config.learning_rate},
                                   {"params": head.parameters(), "lr": config.value_learning_rate}],
                                  weight_decay=0.0)
    eval_tokens = config.eval_max_new_tokens or config.max_new_tokens
    metrics: dict[str, Any] = {"algo": "ppo", "prompts": len(prompts), "iterations": config.iterations}
    if eval_prompts:
        metrics["eval_reward_before"] = _greedy_reward(handle, chat, eval_prompts, reward_fn, eval_tokens)
    log(f"ppo: LoRA r={config.lora_r} on {model_cfg.source}, {config.iterations} iterations of "
        f"{config.prompts_per_iteration} prompts x {config.samples_per_prompt} samples")
    order = random.Random(config.seed)
    queue: list[str] = []
    history: list[dict[str, float]] = []
    bar = tqdm(range(config.iterations), desc="ppo", unit="it", disable=not progress)
    for iteration in bar:
        picked = []
        for _ in range(config.prompts_per_iteration):
            if not queue:
                queue = order.sample(prompts, len(prompts))
            picked.append(queue.pop())
        batch_prompts = [p for p in picked for _ in range(config.samples_per_prompt)]
        t0 = time.perf_counter()
        rollout = collect(handle, chat, batch_prompts, reward_fn, head, config.max_new_tokens, config.temperature)
        rollout_s = time.perf_counter() - t0
        stats = _update(config, handle, rollout, head, params, optimizer, order)
        runtime.adapter_changed(handle)  # weights changed in place: drop text-keyed caches of this adapter
        row = {"iteration": iteration + 1, "reward": float(rollout.scores.mean()), **stats,
               "rollout_s": round(rollout_s, 2), "update_s": round(time.perf_counter() - t0 - rollout_s, 2),
               "answer_tokens": int(rollout.mask.sum())}
        history.append(row)
        bar.set_postfix(reward=f"{row['reward']:.3f}", kl=f"{row['kl']:.2f}")
        log(f"ppo: iteration {iteration + 1}: reward {row['reward']:.3f}, kl {row['kl']:.3f}, "
            f"policy loss {row['policy_loss']:.4f}, value loss {row['value_loss']:.4f}, "
            f"clipped {row['clip_fraction']:.2f} (rollout {row['rollout_s']:.1f} s, update {row['update_s']:.1f} s)")
    if eval_prompts:
        metrics["eval_reward_after"] = _greedy_reward(handle, chat, eval_prompts, reward_fn, eval_tokens)
        metrics["eval_kl"] = sampled_kl(handle, chat, eval_prompts, config.max_new_tokens, config.temperature)
    _save(loaded, handle.adapter, head, folder)
    seconds = round(time.perf_counter() - started, 1)
    last = history[-1]
    metrics.update(train_seconds=seconds, final_reward=last["reward"], final_kl=last["kl"],
                   rollout_tokens=sum(int(h["answer_tokens"]) for h in history),
                   rollout_seconds=round(sum(h["rollout_s"] for h in history), 1))
    VersionManifest(role="base", kind="adapter", adapter="adapter", created=datetime.now(UTC).isoformat(
        timespec="seconds"), train_seconds=seconds).write(folder)
    version_id = register_version(store, "base", "adapter", str(folder), model_cfg.hub_id, metrics=metrics,
                                  activate=False, parent_id=parent_id, algorithm="ppo",
                                  recipe=config.model_dump(mode="json"), started_from=config.init,
                                  notes=f"ppo on {len(prompts)} prompts")
    return PPOOutcome(version_id, folder, metrics, history)


def _policy(config: PPORecipe, settings: Settings, store: Any, runtime: Any, model_cfg: Any, folder: Path
            ) -> tuple[ModelHandle, int | None]:
    """The trainable adapter, loaded into the runtime's model: a copy of the active one, or fresh."""
    from peft import LoraConfig

    from oversight.runtime.versions import VersionManifest
    from oversight.store import active_version

    target = folder / "adapter"
    active = active_version(store, "base") if config.init == "active" else None
    source = VersionManifest.read(Path(active.path)).adapter_path(Path(active.path)) if active else None
    if source is not None:  # a copy, so the active version keeps serving unchanged while this one trains
        shutil.copytree(source, target)
        return runtime.handle(model_cfg, target), active.id  # type: ignore[union-attr]
    loaded, _ = runtime.loaded(model_cfg)
    if loaded.vllm is not None:
        raise OversightError("ppo trains the adapter inside the runtime's model: use the transformers backend")
    layers = loaded.num_layers
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM",
                      layers_to_transform=(list(range(max(0, layers - config.top_layers), layers))
                                           if config.top_layers else None))
    loaded.create_adapter(target, lora)
    return runtime.handle(model_cfg, target), None


def _update(config: PPORecipe, handle: ModelHandle, rollout: Rollout, head: Any, params: list[Any],
            optimizer: Any, order: random.Random) -> dict[str, float]:
    """KL-penalised rewards, GAE, then `ppo_epochs` passes of minibatch steps (on the model's worker)."""
    import torch

    mask = rollout.mask
    rewards, kl = token_rewards(rollout.scores, rollout.logprobs, rollout.ref_logprobs, mask, config.kl_coef)
    advantages, returns = gae(rewards, rollout.values, mask, config.gamma, config.lam)
    if config.whiten_advantages:
        advantages = whiten(advantages, mask) * mask
    size = mask.shape[0]
    parts = []

    def step(loaded: LoadedModel, rows: Any) -> Any:
        for p in params:  # serving another adapter (set_adapter) may have frozen them meanwhile
            p.requires_grad_(True)
        part = select(rollout.batch, rows)
        logprobs, values = answer_pass(loaded, handle.adapter, part, config.temperature, head)
        losses = ppo_loss(logprobs, rollout.logprobs[rows], advantages[rows], values, rollout.values[rows],
                          returns[rows], part["mask"], config.clip_range, config.clip_range_value, config.vf_coef)
        optimizer.zero_grad(set_to_none=True)
        losses.loss.backward()
        torch.nn.utils.clip_grad_norm_([*params, *head.parameters()], config.max_grad_norm)
        optimizer.step()
        return losses

    for _ in range(config.ppo_epochs):
        shuffled = order.sample(range(size), size)
        for start in range(0, size, config.minibatch_size):
            rows = torch.tensor(shuffled[start:start + config.minibatch_size], device=mask.device)
            parts.append(handle.on_worker(lambda loaded, rows=rows: step(loaded, rows)))
    return {"kl": float(kl.sum(1).mean()), "policy_loss": sum(p.policy for p in parts) / len(parts),
            "value_loss": sum(p.value for p in parts) / len(parts),
            "clip_fraction": sum(p.clip_fraction for p in parts) / len(parts),
            "approx_kl": sum(p.approx_kl for p in parts) / len(parts)}


def _greedy_reward(handle: ModelHandle, chat: Callable[[str], Any], prompts: list[str], reward_fn: RewardFn,
                   max_new_tokens: int) -> float:
    from oversight.train.ppo_rollout import check_scores

    answers = [g.text for g in sample(handle, [chat(p) for p in prompts], max_new_tokens, 1.0, greedy=True)]
    scores = check_scores(reward_fn(list(prompts), answers), len(prompts))
    return sum(scores) / len(scores)


def _save(loaded: LoadedModel, adapter: str, head: Any, folder: Path) -> None:
    """The adapter as a plain PEFT folder (what the runtime and the graph load) and the value head beside it."""
    from safetensors.torch import save_file

    from oversight.runtime.loading import save_adapter

    save_adapter(loaded.model, adapter, folder / "adapter")
    save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, str(folder / VALUE_HEAD))
