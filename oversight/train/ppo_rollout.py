"""PPO rollouts through the runtime, and the forward passes that score and train them.

Answers are sampled by the runtime's continuous batcher with the policy adapter
(every rollout row shares each decoding step), which returns the generated token
ids. The passes below run on the model's worker thread (`ModelHandle.on_worker`),
so they never overlap a decoding step: per-row adapters share one slot there.
The reference policy is the same weights with the adapter off (`per_row` with
None), so no second model is held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from oversight.errors import OversightError
from oversight.roles import GenerationConfig
from oversight.runtime import ops
from oversight.runtime.engine import ModelHandle
from oversight.runtime.loading import LoadedModel

RewardFn = Callable[[list[str], list[str]], list[float]]


@dataclass
class Rollout:
    """One batch of sampled answers and what the update needs of them ([answers, answer tokens] tensors)."""

    prompts: list[str]
    responses: list[str]
    batch: dict[str, Any]  # the model inputs (sequence_batch)
    scores: Any            # [n] the reward function's score per answer
    logprobs: Any          # policy at sampling time
    ref_logprobs: Any      # reference: the bare model
    values: Any            # value head at sampling time

    @property
    def mask(self) -> Any:
        return self.batch["mask"]


def value_head(hidden_size: int, device: str) -> Any:
    """A linear map from the last hidden state to a value; zero at the start, so the first advantages
    are the rewards themselves rather than noise from a random head."""
    import torch

    head = torch.nn.Linear(hidden_size, 1, device=device, dtype=torch.float32)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return head


def sample(handle: ModelHandle, chats: Sequence[ops.Chat], max_new_tokens: int, temperature: float,
           greedy: bool = False) -> list[ops.Generation]:
    """Answers from the runtime (continuous batching); top_p 1 so samples follow the policy exactly."""
    params = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=not greedy, temperature=temperature, top_p=1.0)
    return handle.generate(list(chats), params)


def sequence_batch(loaded: LoadedModel, chats: Sequence[ops.Chat], answers: Sequence[Sequence[int]],
                   limit: int | None) -> dict[str, Any]:
    """Prompt + answer ids, left-padded, and where each answer token sits.

    The prompt ids are made exactly as the decoder made them (same render, same cut to `limit`), so
    the scored sequence is the sampled one. `index[i, t]` is the position whose output predicts
    answer token t of row i; `mask` is 0 past an answer's end.
    """
    import torch

    prompts, _ = ops.tokenize(loaded, ops.render(loaded, chats), limit)
    rows = [p + list(a) for p, a in zip(prompts, answers, strict=True)]
    batch = ops.pad_left(loaded, rows)
    width = batch["input_ids"].shape[1]
    steps = max(len(a) for a in answers)
    index = torch.zeros((len(rows), steps), dtype=torch.long)
    targets = torch.full((len(rows), steps), loaded.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), steps))
    for i, (p, a) in enumerate(zip(prompts, answers, strict=True)):
        start = width - len(rows[i]) + len(p) - 1
        index[i] = torch.arange(start, start + steps).clamp(max=width - 1)
        targets[i, : len(a)] = torch.tensor(list(a), dtype=torch.long)
        mask[i, : len(a)] = 1
    device = batch["input_ids"].device
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    return {**batch, "position_ids": positions, "index": index.to(device), "targets": targets.to(device),
            "mask": mask.to(device)}


def select(batch: dict[str, Any], rows: Any) -> dict[str, Any]:
    """A minibatch: these rows of every tensor, with columns that are padding for all of them dropped."""
    part = {k: v.index_select(0, rows) for k, v in batch.items()}
    start = int(part["attention_mask"].any(0).int().argmax())
    for key in ("input_ids", "attention_mask", "position_ids"):
        part[key] = part[key][:, start:]
    part["index"] = (part["index"] - start).clamp(min=0)
    return part


def answer_pass(loaded: LoadedModel, adapter: str | None, batch: dict[str, Any], temperature: float,
                head: Any = None) -> tuple[Any, Any]:
    """Log-probabilities of the answer tokens (and values when `head` is given) in one forward pass.

    The vocabulary projection runs only at answer positions: on the prompt it would cost
    [rows, prompt tokens, 49k] floats for nothing. The value head reads the hidden state detached,
    so only the policy objective shapes the LoRA matrices and the head is a plain regression on them.
    """
    import torch

    with ops.per_row(loaded, [adapter] * batch["input_ids"].shape[0]) as model:
        body = getattr(model, model.base_model_prefix)
        hidden = body(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                      position_ids=batch["position_ids"], use_cache=False).last_hidden_state
        index = batch["index"].unsqueeze(-1).expand(-1, -1, hidden.shape[-1])
        states = hidden.gather(1, index)
        logits = model.get_output_embeddings()(states).float() / temperature
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, batch["targets"].unsqueeze(-1)).squeeze(-1)
    values = head(states.detach().float()).squeeze(-1) if head is not None else None
    return logprobs * batch["mask"], values


def collect(handle: ModelHandle, book_chat: Callable[[str], ops.Chat], prompts: list[str], reward_fn: RewardFn,
            head: Any, max_new_tokens: int, temperature: float) -> Rollout:
    """Sample one answer per prompt entry, score it, and record policy, reference and value estimates."""
    import torch

    chats = [book_chat(p) for p in prompts]
    gens = sample(handle, chats, max_new_tokens, temperature)
    responses = [g.text for g in gens]
    scores = check_scores(reward_fn(list(prompts), responses), len(prompts))
    batch = sequence_batch(handle.loaded, chats, [g.token_ids for g in gens], handle.max_context)

    def score(loaded: LoadedModel) -> tuple[Any, Any, Any]:
        with torch.no_grad():
            logprobs, values = answer_pass(loaded, handle.adapter, batch, temperature, head)
            ref, _ = answer_pass(loaded, None, batch, temperature)
        return logprobs, ref, values * batch["mask"]

    logprobs, ref, values = handle.on_worker(score)
    return Rollout(list(prompts), responses, batch, torch.tensor(scores, device=logprobs.device), logprobs, ref,
                   values)


def check_scores(scores: Sequence[float], expected: int) -> list[float]:
    import math

    out = [float(s) for s in scores]
    if len(out) != expected:
        raise OversightError(f"the reward function returned {len(out)} scores for {expected} answers")
    if not all(math.isfinite(s) for s in out):
        raise OversightError("the reward function returned a score that is not a finite number")
    return out


def sampled_kl(handle: ModelHandle, book_chat: Callable[[str], ops.Chat], prompts: list[str], max_new_tokens: int,
               temperature: float) -> float:
    """Mean over answers sampled from the policy of sum_t (log pi - log ref): an unbiased KL(pi || ref)
    estimate per answer, in nats."""
    import torch

    chats = [book_chat(p) for p in prompts]
    gens = sample(handle, chats, max_new_tokens, temperature)
    batch = sequence_batch(handle.loaded, chats, [g.token_ids for g in gens], handle.max_context)

    def kl(loaded: LoadedModel) -> float:
        with torch.no_grad():
            policy, _ = answer_pass(loaded, handle.adapter, batch, temperature)
            ref, _ = answer_pass(loaded, None, batch, temperature)
        return float(((policy - ref) * batch["mask"]).sum(1).mean())

    return handle.on_worker(kl)
