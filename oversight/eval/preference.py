"""Held-out preference: does a version rank the chosen answer of an unseen pair above the rejected one?

Behaviour rates on a small gate suite are a handful of sampled answers; a model trained to
prefer what reviewers rejected can pass them by luck. This measure reads the model's own
probabilities instead, on preference pairs whose prompts no candidate trained on (the
export's held-out split): for each pair, the mean per-token log-probability of the chosen
and of the rejected answer, as the base role would write it (same system prompt and chat
template as serving and training). It is deterministic, so a shift is the model's, not
sampling noise. Per-token means keep a long answer from losing just for being long.

It complements the generated-behaviour rates, never replaces them: DPO here reached 100%
reward accuracy on its training pairs while refusing fewer unseen harmful prompts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oversight.eval.result import PairScore
from oversight.runtime import ops
from oversight.runtime.engine import ModelHandle
from oversight.runtime.ops import Chat

ROWS_PER_PASS = 8  # answers scored in one forward pass (2 cores: a few hundred tokens each)


class PreferencePair(BaseModel):
    """One held-out preference pair: a user prompt, the answer preferred, the answer rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="stable id: a hash of the pair's text")
    prompt: str = Field(min_length=1)
    chosen: str = Field(min_length=1)
    rejected: str = Field(min_length=1)
    source: str = Field("ai", description="ai or human")


def make_pair(prompt: str, chosen: str, rejected: str, source: str = "ai") -> PreferencePair:
    key = hashlib.sha256("\x1f".join((prompt, chosen, rejected)).encode("utf-8")).hexdigest()[:12]
    return PreferencePair(id=f"pair-{key}", prompt=prompt, chosen=chosen, rejected=rejected, source=source)


def pairs_hash(pairs: Sequence[PreferencePair]) -> str:
    """Content hash of exactly these pairs (order-free), like a suite's items hash."""
    digest = hashlib.sha256()
    for pair in sorted(pairs, key=lambda p: p.id):
        digest.update(pair.model_dump_json().encode())
    return digest.hexdigest()


def score_pairs(handle: ModelHandle, chats: Sequence[Chat], pairs: Sequence[PreferencePair]) -> list[PairScore]:
    """Score every pair's two answers after its chat (`chats[i]` for `pairs[i]`) on the handle's adapter.

    Runs on the model's worker thread (`ModelHandle.on_worker`), between decoding steps of
    other callers, in length-sorted batches of `ROWS_PER_PASS` answers.
    """
    if not pairs:
        return []
    answers = [text for pair in pairs for text in (pair.chosen, pair.rejected)]
    doubled = [chat for chat in chats for _ in range(2)]
    means = handle.on_worker(lambda loaded: _mean_logprobs(loaded, handle.adapter, doubled, answers,
                                                           handle.max_context))
    return [PairScore(id=pair.id, chosen=means[2 * i], rejected=means[2 * i + 1]) for i, pair in enumerate(pairs)]


def _mean_logprobs(loaded: Any, adapter: str | None, chats: list[Chat], answers: list[str],
                   limit: int | None) -> list[float]:
    """Mean log-probability of each answer's tokens plus the end-of-turn token, batched by length."""
    import torch

    prompts, _ = ops.tokenize(loaded, ops.render(loaded, chats), limit)
    tok = loaded.tokenizer
    targets = [tok(a, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for a in answers]
    rows = [p + t for p, t in zip(prompts, targets, strict=True)]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    means = [0.0] * len(rows)
    with torch.inference_mode():
        for start in range(0, len(order), ROWS_PER_PASS):
            part = order[start:start + ROWS_PER_PASS]
            batch = ops.pad_left(loaded, [rows[i] for i in part])
            batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
            with ops.per_row(loaded, [adapter] * len(part)) as model:
                # the vocabulary projection only where an answer token is predicted (not over the prompt)
                hidden = getattr(model, model.base_model_prefix)(**batch, use_cache=False).last_hidden_state
                width = hidden.shape[1]
                for row, i in enumerate(part):
                    n = len(targets[i])
                    logits = model.get_output_embeddings()(hidden[row, width - n - 1: width - 1]).float()
                    ids = torch.tensor(targets[i], device=logits.device).unsqueeze(-1)
                    means[i] = float(torch.log_softmax(logits, dim=-1).gather(-1, ids).mean())
    return means
