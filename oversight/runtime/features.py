"""Hidden-state features for classifier heads, with shared prompt prefixes computed once.

A head reads one pooled hidden state per chat. The critic asks it about every
principle for the same answer, and the judge about several principles for the
same candidate: the chats differ only in their last lines (the principle and the
question), so most of their tokens are the same. Rows whose token ids start
alike are grouped; the common prefix runs once per group with its KV cache kept,
and each row then runs only its own suffix on a copy of that cache. Explicit
position ids make every row exactly what it would be alone, padded or not (the
float32 test checks shared against solo rows).

Every pass also stops at the deepest layer a head reads (`hidden_states`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oversight.runtime.kv_cache import cache_from, cache_kwarg, cache_tensors
from oversight.runtime.loading import LoadedModel
from oversight.runtime.ops import Chat, length_buckets, pad_left, per_row, render, tokenize


@dataclass(frozen=True)
class PrefixGroup:
    """Rows (indices) whose first `shared` token ids are the same."""

    shared: int
    members: tuple[int, ...]


def prefix_groups(rows: Sequence[Sequence[int]], min_shared: int = 16, min_fraction: float = 0.5) -> list[PrefixGroup]:
    """Group rows that share a long token prefix; a row with no such partner is a group of one (shared=0).

    Rows are sorted so that rows with a common prefix are neighbours. A row joins the group before it
    when the prefix they would keep in common is at least `min_shared` tokens and at least
    `min_fraction` of the group's current prefix: critic chats of one answer (sharing request and
    response) group together, chats of different answers (sharing only the chat header) do not.
    Every member keeps at least one token of its own, whose hidden state is read.
    """
    order = sorted(range(len(rows)), key=lambda i: tuple(rows[i]))
    groups: list[PrefixGroup] = []
    members: list[int] = []
    shared = 0
    for i in order:
        if members:
            common = min(shared, _common_length(rows[members[-1]], rows[i]), len(rows[i]) - 1)
            if common >= min_shared and common >= min_fraction * shared:
                members.append(i)
                shared = common
                continue
            groups.append(PrefixGroup(shared if len(members) > 1 else 0, tuple(members)))
        members, shared = [i], len(rows[i]) - 1
    if members:
        groups.append(PrefixGroup(shared if len(members) > 1 else 0, tuple(members)))
    return groups


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n


def features(loaded: LoadedModel, adapter: str | None, chats: Sequence[Chat], layers: Sequence[int],
             pooling: str, limit: int | None = None, *, share_prefixes: bool = True) -> np.ndarray:
    """Hidden states of the chosen layers, last token or mean-pooled, concatenated: [n, hidden*len(layers)].

    Identical chats run once; chats that share a long prefix run it once (see module docstring);
    the rest run in buckets of similar length. A row's result does not depend on its batch.
    """
    rows, _ = tokenize(loaded, render(loaded, chats), limit)
    unique: dict[tuple[int, ...], int] = {}
    index = [unique.setdefault(tuple(r), len(unique)) for r in rows]
    distinct = [list(r) for r in unique]
    pooled: list[Any] = [None] * len(distinct)
    groups = prefix_groups(distinct) if share_prefixes else [PrefixGroup(0, (i,)) for i in range(len(distinct))]
    stats = loaded.feature_stats
    stats.rows += len(rows)
    stats.saved += sum(map(len, rows)) - sum(map(len, distinct)) + sum(g.shared * (len(g.members) - 1) for g in groups)
    alone = [g.members[0] for g in groups if not g.shared]
    for bucket in length_buckets([len(distinct[i]) for i in alone]):
        members = [alone[i] for i in bucket]
        for i, row in zip(members, _plain_pass(loaded, adapter, [distinct[i] for i in members], layers, pooling),
                          strict=True):
            pooled[i] = row
    shared = [g for g in groups if g.shared]
    for bucket in length_buckets([g.shared for g in shared]):
        for i, row in _shared_pass(loaded, adapter, distinct, [shared[b] for b in bucket], layers, pooling):
            pooled[i] = row
    if not pooled:
        return np.zeros((0, loaded.hidden_size * len(layers)), dtype=np.float32)
    return np.stack([pooled[i] for i in index])


def _plain_pass(loaded: LoadedModel, adapter: str | None, rows: list[list[int]], layers: Sequence[int],
                pooling: str) -> list[np.ndarray]:
    import torch

    batch = pad_left(loaded, rows)
    mask = batch["attention_mask"]
    loaded.feature_stats.tokens += mask.numel()
    with torch.inference_mode(), per_row(loaded, [adapter] * len(rows)) as model:
        hidden = hidden_states(_body(model), {**batch, "position_ids": _positions(mask), "use_cache": False},
                               layers)
        weights = mask.unsqueeze(-1).float()
        parts = [hidden[layer].float()[:, -1, :] if pooling == "last"
                 else (hidden[layer].float() * weights).sum(1) / weights.sum(1) for layer in layers]
    return list(torch.cat(parts, dim=-1).cpu().numpy())


def _shared_pass(loaded: LoadedModel, adapter: str | None, rows: list[list[int]], groups: list[PrefixGroup],
                 layers: Sequence[int], pooling: str) -> list[tuple[int, np.ndarray]]:
    """One pass over the groups' prefixes (cache kept), then passes over their members' suffixes."""
    import torch

    prefix = pad_left(loaded, [rows[g.members[0]][: g.shared] for g in groups])
    prefix_mask = prefix["attention_mask"]
    loaded.feature_stats.tokens += prefix_mask.numel()
    cache = cache_from([])
    with torch.inference_mode(), per_row(loaded, [adapter] * len(groups)) as model:
        body = _body(model)
        hidden = hidden_states(body, {**prefix, "position_ids": _positions(prefix_mask),
                                      cache_kwarg(body): cache, "use_cache": True}, layers)
        weights = prefix_mask.unsqueeze(-1).float()
        prefix_sums = {layer: (hidden[layer].float() * weights).sum(1) for layer in layers}
    kv = cache_tensors(cache)
    members = [(g, i) for g, group in enumerate(groups) for i in group.members]
    suffixes = [rows[i][groups[g].shared:] for g, i in members]
    out: list[tuple[int, np.ndarray]] = []
    for bucket in length_buckets([len(s) for s in suffixes]):
        which = torch.tensor([members[b][0] for b in bucket], device=prefix_mask.device)
        batch = pad_left(loaded, [suffixes[b] for b in bucket])
        loaded.feature_stats.tokens += batch["attention_mask"].numel()
        mask = torch.cat([prefix_mask.index_select(0, which), batch["attention_mask"]], dim=1)
        with torch.inference_mode(), per_row(loaded, [adapter] * len(bucket)) as model:
            row_cache = cache_from([(k.index_select(0, which), v.index_select(0, which)) for k, v in kv])
            body = _body(model)
            states = hidden_states(body, {"input_ids": batch["input_ids"], "attention_mask": mask,
                                          "position_ids": _positions(mask)[:, prefix_mask.shape[1]:],
                                          cache_kwarg(body): row_cache, "use_cache": True}, layers)
            suffix_weights = batch["attention_mask"].unsqueeze(-1).float()
            counts = mask.sum(1, keepdim=True).float()
            parts = [states[layer].float()[:, -1, :] if pooling == "last"
                     else (prefix_sums[layer].index_select(0, which)
                           + (states[layer].float() * suffix_weights).sum(1)) / counts for layer in layers]
        for b, row in zip(bucket, torch.cat(parts, dim=-1).cpu().numpy(), strict=True):
            out.append((members[b][1], row))
    return out


def _body(model: Any) -> Any:
    """The transformer body only: the vocabulary projection is not needed for features."""
    return getattr(model, model.base_model_prefix, model)


def _positions(mask: Any) -> Any:
    """Position ids that count only real tokens, so padding never shifts a row."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


class _DeepEnough(Exception):
    """Raised by a forward hook once the deepest wanted layer has run."""


def hidden_states(body: Any, inputs: dict[str, Any], layers: Sequence[int]) -> dict[int, Any]:
    """The wanted entries of `output_hidden_states` (negative indices allowed), computing no deeper than needed.

    Entry i > 0 is the output of decoder layer i-1, so a forward hook catches it and stops the pass there:
    heads reading layer -8 of 30 skip the top 7 layers (and a cache passed in `inputs` is filled only up
    to there). Entry 0 (embeddings) and the last entry (after the final norm) need the full pass.
    """
    inputs = {"use_cache": False, **inputs}
    blocks = getattr(body, "layers", None)
    count = len(blocks) + 1 if blocks is not None else 0
    wanted = {layer: layer % count for layer in layers} if count else {}
    if not wanted or any(a in (0, count - 1) for a in wanted.values()):
        states = body(**inputs, output_hidden_states=True).hidden_states
        return {layer: states[layer] for layer in layers}
    deepest, caught = max(wanted.values()), {}

    def catch(index: int) -> Any:
        def hook(_module: Any, _args: Any, output: Any) -> None:
            caught[index] = output[0] if isinstance(output, tuple) else output
            if index == deepest:
                raise _DeepEnough
        return hook

    handles = [blocks[a - 1].register_forward_hook(catch(a)) for a in set(wanted.values())]
    try:
        body(**inputs)
    except _DeepEnough:
        pass
    finally:
        for handle in handles:
            handle.remove()
    return {layer: caught[a] for layer, a in wanted.items()}
