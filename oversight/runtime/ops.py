"""Batched operations on one loaded model: generate and score options (features: features.py).

Each takes a list of chats that share one adapter and runs a single padded batch
(left padding plus attention masks, so batched greedy output equals unbatched).
Prompts longer than the model's context keep their first and last tokens with a
marker between (see `keep_head_and_tail`) and say so in the result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from oversight.roles import GenerationConfig
from oversight.runtime.loading import LoadedModel

Chat = list[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    new_tokens: int
    truncated: bool = False
    # The generated ids, the end token included when the row stopped on one: what a trainer (PPO)
    # scores, since decoding and re-encoding the text need not give the same ids back.
    token_ids: tuple[int, ...] = ()


@contextlib.contextmanager
def using_adapter(loaded: LoadedModel, adapter: str | None) -> Iterator[Any]:
    """Activate one adapter, or run the bare base model when `adapter` is None."""
    model = loaded.model
    if not hasattr(model, "peft_config"):
        yield model
    elif adapter is None:
        with model.disable_adapter():
            yield model
    else:
        model.set_adapter(adapter)
        yield model


@contextlib.contextmanager
def per_row(loaded: LoadedModel, adapters: Sequence[str | None]) -> Iterator[Any]:
    """The transformers model, with row i of each forward pass in the block using `adapters[i]`.

    Cheaper than `using_adapter` when passes are many (see row_adapters.py); None means the bare model.
    Rows that all use one adapter take PEFT's plain LoRA path (its mixed-batch path gathers and scatters
    rows in every LoRA module); the adapter is switched only when it changes.
    """
    model = loaded.model
    if not hasattr(model, "peft_config"):
        yield model
        return
    names = set(adapters)
    if len(names) == 1 and None not in names:
        name = next(iter(names))
        if model.active_adapter != name:
            model.set_adapter(name)
        yield model.get_base_model()
        return
    with loaded.row_adapters.use(adapters):
        yield model.get_base_model()


def chat_key(chat: Chat) -> str:
    """A chat as one string: equal chats, equal keys (for caches and de-duplication)."""
    return "\x1e".join(f"{m['role']}\x1f{m['content']}" for m in chat)


def render(loaded: LoadedModel, chats: Sequence[Chat]) -> list[str]:
    return [loaded.tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in chats]


# Put where an over-long prompt was cut, so the model (and a reader of the kept text) sees a gap.
CUT_MARKER = "\n[...]\n"


def keep_head_and_tail(ids: Sequence[int], limit: int, marker: Sequence[int]) -> list[int]:
    """At most `limit` ids: the first and the last halves, `marker` between them.

    Why not just the last tokens: a long jailbreak wrapper would then push out the system
    prompt and the template's headers, and the model would read the request without its rules.
    The rendered chat starts with the system prompt and the user header and ends with the
    assistant header, and its long part is the user text, so a cut in the middle lands there.
    """
    if len(ids) <= limit:
        return list(ids)
    if len(marker) > limit // 4:  # a tiny context has no room for the marker
        marker = ()
    room = limit - len(marker)
    head = room // 2
    return [*ids[:head], *marker, *ids[len(ids) - (room - head):]]


def tokenize(loaded: LoadedModel, texts: Sequence[str], limit: int | None = None) -> tuple[list[list[int]], list[bool]]:
    """Token ids of each text, cut to `limit` (max_context) by `keep_head_and_tail`; and which were cut.

    Generation, option scoring and head features all tokenize here, so they see the same kept ids.
    """
    limit = limit or loaded.config.max_context
    rows = [loaded.tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    cut = [len(ids) > limit for ids in rows]
    if any(cut):
        marker = loaded.tokenizer(CUT_MARKER, add_special_tokens=False)["input_ids"]
        rows = [keep_head_and_tail(ids, limit, marker) if c else ids for ids, c in zip(rows, cut, strict=True)]
    return rows, cut


def pad_left(loaded: LoadedModel, rows: Sequence[list[int]]) -> dict[str, Any]:
    """One left-padded batch with its attention mask, on the model's device."""
    import torch

    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), loaded.tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r):] = 1
    return {"input_ids": input_ids.to(loaded.device), "attention_mask": mask.to(loaded.device)}


def encode(loaded: LoadedModel, texts: Sequence[str], suffix_ids: Sequence[list[int]] | None = None,
           limit: int | None = None) -> tuple[Any, list[bool]]:
    """Tokenize, keep the last `limit` (max_context) tokens of each, append any suffix, left-pad into one batch."""
    rows, truncated = tokenize(loaded, texts, limit)
    if suffix_ids is not None:
        rows = [ids + list(suffix) for ids, suffix in zip(rows, suffix_ids, strict=True)]
    return pad_left(loaded, rows), truncated


def length_buckets(lengths: Sequence[int], slack: float = 0.15, min_tokens: int = 64) -> list[list[int]]:
    """Indices grouped by similar length, so padding wastes at most about `slack` of a forward pass.

    On a CPU a forward pass costs what its padded tokens cost: a batch mixing 30- and 400-token
    chats pays 400 for each. Groups below `min_tokens` real tokens are not split further, because
    each pass also has a fixed cost.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    buckets: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i in order:
        longest = lengths[i]  # ascending: the newcomer is the longest of the group
        if current and real >= min_tokens and (len(current) + 1) * longest > (1 + slack) * (real + longest):
            buckets.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    return [*buckets, current] if current else buckets


@dataclass(frozen=True)
class GenerateRequest:
    """One generation in a mixed batch: its adapter (None = bare model) and its own token limit."""

    chat: Chat
    adapter: str | None
    max_new_tokens: int


def generate_mixed(loaded: LoadedModel, requests: Sequence[GenerateRequest], params: GenerationConfig,
                   limit: int | None = None) -> list[Generation]:
    """One batched `generate` for requests that may differ in adapter and token limit.

    Different adapters share the batch through PEFT's per-row `adapter_names`; the batch runs to the
    largest limit and each row is cut to its own (greedy output with a smaller limit is a prefix).
    """
    import torch

    batch, truncated = encode(loaded, render(loaded, [r.chat for r in requests]), limit=limit)
    kwargs: dict[str, Any] = {"max_new_tokens": max(r.max_new_tokens for r in requests),
                              "do_sample": params.do_sample}
    if params.do_sample:
        kwargs.update(temperature=params.temperature, top_p=params.top_p)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    adapters = {r.adapter for r in requests}
    with torch.inference_mode():
        if len(adapters) == 1:
            with using_adapter(loaded, requests[0].adapter) as model:
                out = model.generate(**batch, **kwargs, pad_token_id=loaded.tokenizer.pad_token_id)
        else:
            names = [r.adapter or "__base__" for r in requests]
            out = loaded.model.generate(**batch, **kwargs, adapter_names=names,
                                        pad_token_id=loaded.tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    eos = loaded.model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) | {loaded.tokenizer.eos_token_id}
    results = []
    for i, row in enumerate(out[:, width:].tolist()):
        new, ended = [], []
        for t in row[: requests[i].max_new_tokens]:
            if t in eos_ids:
                ended = [t]
                break
            new.append(t)
        text = loaded.tokenizer.decode(new, skip_special_tokens=True).strip()
        prompt_len = int(batch["attention_mask"][i].sum())
        results.append(Generation(text, prompt_len, len(new), truncated[i], tuple(new + ended)))
    return results


def score_options(loaded: LoadedModel, adapter: str | None, chats: Sequence[Chat], options: Sequence[str],
                  limit: int | None = None) -> list[dict[str, float]]:
    """Normalized probability of each option as the assistant's answer.

    When the options start with distinct tokens (Yes/No, A/B) one forward pass
    gives them all; otherwise each option's full continuation is scored.
    """
    import torch

    tok = loaded.tokenizer
    option_ids = [tok(o, add_special_tokens=False)["input_ids"] for o in options]
    firsts = [ids[0] for ids in option_ids]
    texts = render(loaded, chats)
    with torch.inference_mode(), using_adapter(loaded, adapter) as model:
        if len(set(firsts)) == len(firsts):
            batch, _ = encode(loaded, texts, limit=limit)
            logits = model(**batch, logits_to_keep=1).logits[:, -1, :].float()
            logp = torch.log_softmax(logits, dim=-1)[:, firsts]
        else:
            logp = _sequence_logprobs(loaded, model, texts, option_ids, limit)
    probs = torch.softmax(logp, dim=-1).tolist()
    return [dict(zip(options, row)) for row in probs]


def _sequence_logprobs(loaded: LoadedModel, model: Any, texts: Sequence[str], option_ids: list[list[int]],
                       limit: int | None) -> Any:
    import torch

    n, k = len(texts), len(option_ids)
    flat_texts = [t for t in texts for _ in range(k)]
    suffixes = [ids for _ in range(n) for ids in option_ids]
    batch, _ = encode(loaded, flat_texts, suffixes, limit=limit)
    logp = torch.log_softmax(model(**batch).logits.float(), dim=-1)
    scores = torch.empty(n * k)
    for row, ids in enumerate(suffixes):
        m = len(ids)
        positions = torch.arange(logp.shape[1] - m - 1, logp.shape[1] - 1)
        scores[row] = logp[row, positions, torch.tensor(ids)].sum()
    return scores.view(n, k)
