"""Hidden-state features for head training, taken through the runtime exactly as at inference."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from oversight.runtime.ops import Chat, chat_key


def extract_features(runtime: Any, handle: Any, chats: Sequence[Chat], layers: Sequence[int], pooling: str,
                     *, encoder: str | None = None, encoder_texts: Sequence[str] | None = None,
                     batch_size: int = 16, progress: Any = None) -> np.ndarray:
    """Features of every chat, computed in batches of similar length (less padding), in input order.

    `encoder_texts` (one per chat) are what the encoder reads when the head's role sets `encoder_input`.
    `progress` is an optional tqdm-like bar; it is advanced by the number of chats done.
    """
    if not chats:
        return np.zeros((0, 0), dtype=np.float32)
    texts = list(encoder_texts) if encoder_texts is not None else [None] * len(chats)
    unique: dict[tuple[str, str | None], int] = {}
    keys = [(chat_key(c), t) for c, t in zip(chats, texts, strict=True)]
    for k in keys:
        unique.setdefault(k, len(unique))
    firsts: dict[int, tuple[Chat, str | None]] = {}
    for k, c, t in zip(keys, chats, texts, strict=True):
        firsts.setdefault(unique[k], (c, t))
    copies = Counter(unique[k] for k in keys)
    order = sorted(firsts, key=lambda i: sum(len(m["content"]) for m in firsts[i][0]))
    rows: dict[int, np.ndarray] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        block = runtime.head_features(handle, [firsts[i][0] for i in chunk], layers, pooling, encoder,
                                      [firsts[i][1] or "" for i in chunk] if encoder_texts is not None else None)
        for i, row in zip(chunk, block, strict=True):
            rows[i] = np.asarray(row, dtype=np.float32)
        if progress is not None:
            progress.update(sum(copies[i] for i in chunk))
    return np.stack([rows[unique[k]] for k in keys])
