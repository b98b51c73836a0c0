"""Hidden-state features for head training, taken through the runtime exactly as at inference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from oversight.runtime.ops import Chat, chat_key


def extract_features(runtime: Any, handle: Any, chats: Sequence[Chat], layers: Sequence[int], pooling: str,
                     *, encoder: str | None = None, batch_size: int = 16, progress: Any = None) -> np.ndarray:
    """Features of every chat, computed in batches of similar length (less padding), in input order.

    `progress` is an optional tqdm-like bar; it is advanced by the number of chats done.
    """
    if not chats:
        return np.zeros((0, 0), dtype=np.float32)
    unique: dict[str, int] = {}
    keys = [chat_key(c) for c in chats]
    for k in keys:
        unique.setdefault(k, len(unique))
    firsts: dict[int, Chat] = {}
    for k, c in zip(keys, chats, strict=True):
        firsts.setdefault(unique[k], c)
    copies = Counter(unique[k] for k in keys)
    order = sorted(firsts, key=lambda i: sum(len(m["content"]) for m in firsts[i]))
    rows: dict[int, np.ndarray] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        block = runtime.head_features(handle, [firsts[i] for i in chunk], layers, pooling, encoder)
        for i, row in zip(chunk, block, strict=True):
            rows[i] = np.asarray(row, dtype=np.float32)
        if progress is not None:
            progress.update(sum(copies[i] for i in chunk))
    return np.stack([rows[unique[k]] for k in keys])
