"""Iteration-level (continuous) batching of generation on one loaded model.

A plain batched `generate` runs until its longest row ends, and a request that
arrives meanwhile waits for the whole batch. In the oversight graph prompts
reach critique and revision at different moments, so such batches stayed small
(a mean of 6 rows out of 32 allowed). Here a request joins the running batch at
the next decoding step and leaves as soon as it ends: every step is one forward
pass over all active rows, whatever their adapter, token limit or sampling.

All rows share one left-padded KV cache. A newcomer is prefilled with the other
newcomers of its step, then the shorter of the two caches is padded on the left
to the other's length; attention masks and per-row position ids keep every row
exactly what it would be alone, so greedy output equals a single-request run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from oversight.roles import GenerationConfig
from oversight.runtime import ops
from oversight.runtime.kv_cache import cache_from, cache_kwarg, cache_tensors, left_pad
from oversight.runtime.loading import LoadedModel


@dataclass(frozen=True)
class DecodeRequest:
    """What a caller asks for: the request, its sampling settings and prompt-token limit."""

    request: ops.GenerateRequest
    params: GenerationConfig
    limit: int | None = None


@dataclass
class _Row:
    ask: DecodeRequest
    future: Future
    prompt_tokens: int
    truncated: bool
    tokens: list[int] = field(default_factory=list)

    @property
    def adapter(self) -> str | None:
        return self.ask.request.adapter


@dataclass
class DecodeStats:
    steps: int = 0
    row_steps: int = 0  # sum over steps of the rows decoded in that step
    admitted: int = 0
    prefill_tokens: int = 0  # prompt tokens of admitted rows (padding included)
    prompt_tokens: int = 0   # the same without padding
    prefill_s: float = 0.0

    @property
    def mean_rows(self) -> float:
        return self.row_steps / self.steps if self.steps else 0.0


def supports_continuous(model: Any) -> bool:
    """Full-attention decoder-only models; sliding-window caches cannot be merged by padding."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    if getattr(config, "is_encoder_decoder", False):
        return False
    sliding = getattr(config, "sliding_window", None)
    return sliding is None or getattr(config, "use_sliding_window", True) is False


class ContinuousDecoder:
    """Holds the active rows of one model; `admit` adds rows, `step` decodes one token for each.

    Only the batcher's worker thread calls it, so it needs no lock.
    """

    def __init__(self, loaded: LoadedModel, max_rows: int = 32) -> None:
        self.loaded = loaded
        self.max_rows = max_rows
        self.stats = DecodeStats()
        self._rows: list[_Row] = []
        self._cache: Any = None      # a DynamicCache, grown in place by each step; rebuilt on join/leave
        self._mask: Any = None       # [rows, length]: 1 where the cache holds a real token
        self._next: Any = None       # [rows]: the token each row feeds in at the next step
        self._positions: Any = None  # [rows]: that token's position id
        tok = loaded.tokenizer
        eos = loaded.model.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}

    @property
    def active(self) -> int:
        return len(self._rows)

    @property
    def room(self) -> int:
        return self.max_rows - len(self._rows)

    def admit(self, asks: Sequence[tuple[DecodeRequest, Future]]) -> None:
        """Prefill the newcomers and join them to the running batch.

        Newcomers of similar length prefill together (`ops.length_buckets`): prompt processing is
        compute-bound, and a 40-token answer prompt padded to a 350-token revision prompt costs 350.
        """
        by_limit: dict[int | None, list[tuple[DecodeRequest, Future]]] = {}
        for ask in asks:
            by_limit.setdefault(ask[0].limit, []).append(ask)
        for limit, group in by_limit.items():
            rows, truncated = ops.tokenize(self.loaded, ops.render(self.loaded, [a.request.chat for a, _ in group]),
                                           limit)
            for bucket in ops.length_buckets([len(r) for r in rows]):
                self._prefill([group[i] for i in bucket], [rows[i] for i in bucket], [truncated[i] for i in bucket])

    def _prefill(self, asks: Sequence[tuple[DecodeRequest, Future]], rows: list[list[int]],
                 truncated: list[bool]) -> None:
        import torch

        batch = ops.pad_left(self.loaded, rows)
        mask = batch["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        new = [_Row(a, fut, len(rows[i]), truncated[i]) for i, (a, fut) in enumerate(asks)]
        started = time.perf_counter()
        cache = cache_from([])
        with torch.inference_mode():
            out = self._forward(batch["input_ids"], mask, positions, cache, [r.adapter for r in new])
        first = self._choose(out.logits[:, -1, :], new)
        self.stats.admitted += len(new)
        self.stats.prefill_tokens += mask.numel()
        self.stats.prompt_tokens += sum(map(len, rows))
        self.stats.prefill_s += time.perf_counter() - started
        keep = self._advance(new, first)
        if not keep:
            return
        index = torch.tensor(keep, device=mask.device)
        kept = [(k.index_select(0, index), v.index_select(0, index)) for k, v in cache_tensors(cache)]
        self._join([new[i] for i in keep], kept, mask.index_select(0, index), first.index_select(0, index),
                   positions[:, -1].index_select(0, index) + 1)

    def step(self) -> None:
        """One forward pass over every active row; finished rows resolve their futures and leave."""
        import torch

        if not self._rows:
            return
        mask = torch.cat([self._mask, self._mask.new_ones((len(self._rows), 1))], dim=1)
        with torch.inference_mode():
            out = self._forward(self._next.unsqueeze(1), mask, self._positions.unsqueeze(1), self._cache,
                                [r.adapter for r in self._rows])
        self._mask = mask
        self._next = self._choose(out.logits[:, -1, :], self._rows)
        self._positions = self._positions + 1
        self.stats.steps += 1
        self.stats.row_steps += len(self._rows)
        keep = self._advance(self._rows, self._next)
        if len(keep) < len(self._rows):
            self._select(keep)

    def fail_all(self, exc: BaseException) -> None:
        for row in self._rows:
            if not row.future.done():
                row.future.set_exception(exc)
        self._rows, self._cache = [], None

    # --- internals -------------------------------------------------------------------------
    def _forward(self, input_ids: Any, mask: Any, positions: Any, cache: Any, adapters: list[str | None]) -> Any:
        """One pass that appends to `cache` (a DynamicCache from `cache_from`)."""
        with ops.per_row(self.loaded, adapters) as model:
            return model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **{cache_kwarg(model): cache})

    def _choose(self, logits: Any, rows: Sequence[_Row]) -> Any:
        """Next token per row: argmax for greedy rows, temperature and top-p sampling for the others."""
        import torch

        chosen = logits.argmax(dim=-1)
        for i, row in enumerate(rows):
            params = row.ask.params
            if not params.do_sample:
                continue
            probs = torch.softmax(logits[i].float() / params.temperature, dim=-1)
            if params.top_p >= 1.0:  # the full distribution (PPO rollouts): no sort of the vocabulary
                chosen[i] = torch.multinomial(probs, 1)[0]
                continue
            ordered, index = probs.sort(descending=True)
            keep = ordered.cumsum(0) - ordered < params.top_p  # the smallest set reaching top_p
            ordered = ordered * keep
            chosen[i] = index[torch.multinomial(ordered / ordered.sum(), 1)]
        return chosen

    def _join(self, new: list[_Row], cache: list[tuple[Any, Any]], mask: Any, first: Any, positions: Any) -> None:
        import torch

        if not self._rows:
            self._rows, self._mask, self._next, self._positions = new, mask, first, positions
            self._cache = cache_from(cache)
            return
        width = max(self._mask.shape[1], mask.shape[1])
        self._cache = cache_from([(torch.cat([left_pad(k0, width), left_pad(k1, width)]),
                                    torch.cat([left_pad(v0, width), left_pad(v1, width)]))
                                   for (k0, v0), (k1, v1) in zip(cache_tensors(self._cache), cache, strict=True)])
        self._mask = torch.cat([left_pad(self._mask, width), left_pad(mask, width)])
        self._next = torch.cat([self._next, first])
        self._positions = torch.cat([self._positions, positions])
        self._rows = self._rows + new

    def _advance(self, rows: Sequence[_Row], tokens: Any) -> list[int]:
        """Give each row its new token; resolve the rows that hit an end token or their limit.

        Returns the indices of the rows that go on.
        """
        keep = []
        for i, (row, token) in enumerate(zip(rows, tokens.tolist(), strict=True)):
            done = token in self._eos
            if not done:
                row.tokens.append(token)
                done = len(row.tokens) >= row.ask.request.max_new_tokens
            if done:
                text = self.loaded.tokenizer.decode(row.tokens, skip_special_tokens=True).strip()
                ids = tuple(row.tokens) + ((token,) if token in self._eos else ())
                row.future.set_result(ops.Generation(text, row.prompt_tokens, len(row.tokens), row.truncated, ids))
            else:
                keep.append(i)
        return keep

    def _select(self, keep: list[int]) -> None:
        """Keep only these rows, and drop cache columns that are padding for all of them."""
        import torch

        self._rows = [self._rows[i] for i in keep]
        if not keep:
            self._cache, self._mask = None, None
            return
        index = torch.tensor(keep, device=self._mask.device)
        mask = self._mask.index_select(0, index)
        start = int(mask.any(0).int().argmax())  # the first column some remaining row uses
        self._mask = mask[:, start:]
        self._cache = cache_from([(k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:])
                                   for k, v in cache_tensors(self._cache)])
        self._next = self._next.index_select(0, index)
        self._positions = self._positions.index_select(0, index)
