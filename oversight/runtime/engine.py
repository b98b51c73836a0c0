"""The runtime facade: one loaded copy per base model, one batcher per copy.

`Runtime.handle(model_config, adapter_folder)` returns a `ModelHandle` whose
calls are thread-safe and batched with every other caller of the same base
model, whatever role or adapter they use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from oversight.roles import GenerationConfig, ModelConfig
from oversight.runtime import ops
from oversight.runtime.batcher import DynamicBatcher
from oversight.runtime.decoding import ContinuousDecoder, DecodeRequest, supports_continuous
from oversight.runtime.loading import LoadedModel, load_base, load_tokenizer, pick_device, pick_dtype
from oversight.runtime.ops import Chat, Generation

T = TypeVar("T")


def as_chat(prompt: str | Chat, system: str | None = None) -> Chat:
    chat = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system and not any(m["role"] == "system" for m in chat):
        chat.insert(0, {"role": "system", "content": system})
    return chat


class Runtime:
    """Loads each distinct base model once per process and batches all calls to it."""

    def __init__(self, models_dir: Path, *, max_batch: int = 32, max_wait_s: float = 0.005,
                 continuous: bool = True, feature_cache: int = 4096, device: str = "auto") -> None:
        self.models_dir = models_dir
        self.device = device  # Settings.device (OVERSIGHT_DEVICE): used where a model says device auto
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.continuous = continuous  # iteration-level batching of generation (decoding.py)
        self._models: dict[tuple[str, str, str], tuple[LoadedModel, DynamicBatcher]] = {}
        self._encoders: dict[str, Any] = {}
        self._lock = threading.Lock()
        # Head features by (model, adapter, settings, chat): the judge reads the original answer once per
        # revision, and a resumed thread re-runs its node. ~6 KB a row; least recently used go first.
        self._feature_cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._feature_cache_size = feature_cache
        self.feature_cache_hits = 0

    def device_for(self, config: ModelConfig) -> str:
        """The model's own device, or this runtime's setting where the roles file says auto."""
        return pick_device(config.device, self.device)

    def loaded(self, config: ModelConfig) -> tuple[LoadedModel, DynamicBatcher]:
        device = self.device_for(config)
        dtype = pick_dtype(config.dtype, device)
        key = (config.source, str(dtype), device)
        with self._lock:
            if key not in self._models:
                model = load_base(config, self.models_dir, dtype=dtype, device=device)
                loaded = LoadedModel(config, model, load_tokenizer(config, self.models_dir), device)
                if config.backend == "vllm":
                    from oversight.runtime.loading import model_folder
                    from oversight.runtime.vllm_backend import VllmGenerator

                    loaded.vllm = VllmGenerator(config, model_folder(config, self.models_dir), loaded.tokenizer,
                                                str(dtype).removeprefix("torch."))
                decoder = None
                if self.continuous and loaded.vllm is None and supports_continuous(model):
                    decoder = ContinuousDecoder(loaded, max_rows=self.max_batch)
                batcher = DynamicBatcher(lambda group, items, lm=loaded: _execute(lm, group, items, self.encoder),
                                         max_batch=self.max_batch, max_wait_s=self.max_wait_s,
                                         name=f"batcher:{config.source}", decoder=decoder)
                self._models[key] = (loaded, batcher)
            return self._models[key]

    def encoder(self, name: str) -> Any:
        """A sentence encoder (see runtime/encoder.py), loaded once per process."""
        with self._lock:
            if name not in self._encoders:
                from oversight.runtime.encoder import SentenceEncoder

                self._encoders[name] = SentenceEncoder(name)
            return self._encoders[name]

    def head_features(self, handle: ModelHandle, chats: Sequence[Chat], layers: Sequence[int], pooling: str,
                      encoder: str | None = None, encoder_texts: Sequence[str] | None = None) -> Any:
        """What a classifier head reads: hidden states, plus the sentence embedding when it uses one.

        The encoder reads `encoder_texts` when given (one per chat), else each chat's user text. Rows
        computed before (same model, adapter, settings, chat and encoder text) come from the feature cache.
        """
        import numpy as np

        from oversight.runtime.encoder import chat_text

        if not chats:
            empty = handle.features([], layers, pooling)
            return empty if encoder is None else np.concatenate([empty, self.encoder(encoder).embed([])], axis=1)
        if encoder is None:
            texts: list[str | None] = [None] * len(chats)
        else:
            texts = list(encoder_texts) if encoder_texts is not None else [chat_text(c) for c in chats]
        setting = (id(handle.loaded), handle.adapter, handle.max_context, tuple(layers), pooling, encoder)
        keys = [(*setting, ops.chat_key(c), t) for c, t in zip(chats, texts, strict=True)]
        with self._lock:
            found = {k: self._feature_cache[k] for k in keys if k in self._feature_cache}
            for k in found:
                self._feature_cache.move_to_end(k)
            self.feature_cache_hits += sum(1 for k in keys if k in found)
        todo = {k: c for k, c in zip(keys, chats, strict=True) if k not in found}
        if todo:
            fresh = handle.features(list(todo.values()), layers, pooling)
            if encoder is not None:
                fresh = np.concatenate([fresh, handle.embed([k[-1] for k in todo], encoder)], axis=1)
            found.update(zip(todo, fresh, strict=True))
            with self._lock:
                self._feature_cache.update((k, found[k]) for k in todo)
                while len(self._feature_cache) > self._feature_cache_size:
                    self._feature_cache.popitem(last=False)
        return np.stack([found[k] for k in keys])

    def handle(self, config: ModelConfig, adapter: str | Path | None = None) -> ModelHandle:
        loaded, batcher = self.loaded(config)
        name = loaded.adapter_name(adapter) if adapter else None
        return ModelHandle(loaded, batcher, name, config.max_context)

    def adapter_changed(self, handle: ModelHandle) -> int:
        """Tell the runtime that `handle`'s adapter weights were changed in place (a PPO update).

        Generation and option scores read the weights live, but head features are cached by chat text
        and would go stale: drop this adapter's rows (returns how many). LoRA modules the update added
        get their per-row hook. A vLLM engine holds its own copy of the weights, so it is refused.
        """
        if handle.loaded.vllm is not None:
            from oversight.errors import OversightError

            raise OversightError("in-place adapter updates need the transformers backend, not vllm")
        handle.loaded.row_adapters.install(handle.loaded.model)
        with self._lock:
            stale = [k for k in self._feature_cache if k[0] == id(handle.loaded) and k[1] == handle.adapter]
            for k in stale:
                del self._feature_cache[k]
        return len(stale)

    def batching_report(self) -> str:
        """One line per loaded model: how the batcher grouped work and where its worker spent time."""
        lines = []
        for loaded, batcher in self._models.values():
            stats, decoder = batcher.stats, batcher.decoder
            parts = [f"{stats.batches} one-shot batches (mean {stats.mean_batch:.1f} requests)"]
            if decoder is not None:
                d = decoder.stats
                parts.append(f"{d.steps} decode steps (mean {d.mean_rows:.1f} rows), {d.admitted} prefills "
                             f"({d.prompt_tokens} prompt tokens, {d.prefill_tokens} with padding, {d.prefill_s:.1f} s)")
            f = loaded.feature_stats
            if f.rows:
                parts.append(f"{f.rows} feature rows ({f.tokens} tokens run, {f.saved} spared by shared prefixes)")
            seconds = ", ".join(f"{op} {s:.1f} s" for op, s in sorted(stats.seconds.items()))
            lines.append(f"{loaded.config.source}: {'; '.join(parts)}; worker time: {seconds or 'none'}")
        for name, enc in self._encoders.items():
            lines.append(f"encoder {name}: {enc.texts} texts embedded in {enc.seconds:.1f} s")
        if self.feature_cache_hits:
            lines.append(f"feature cache: {self.feature_cache_hits} rows reused")
        return "\n".join(lines)

    def reset_stats(self) -> None:
        """Zero the counters `batching_report` prints (say, after warm-up or a bootstrap in the same process)."""
        from oversight.runtime.batcher import BatchStats
        from oversight.runtime.decoding import DecodeStats
        from oversight.runtime.loading import FeatureStats

        for loaded, batcher in self._models.values():
            batcher.stats = BatchStats()
            if batcher.decoder is not None:
                batcher.decoder.stats = DecodeStats()
            loaded.feature_stats = FeatureStats()
        for enc in self._encoders.values():
            enc.texts, enc.seconds = 0, 0.0
        self.feature_cache_hits = 0

    @property
    def loaded_models(self) -> list[LoadedModel]:
        return [lm for lm, _ in self._models.values()]

    def close(self) -> None:
        for _, batcher in self._models.values():
            batcher.close()


def _execute(loaded: LoadedModel, group: Hashable, items: list[Any], encoder: Any) -> list[Any]:
    op, adapter, settings, limit = group  # type: ignore[misc]
    if op == "call":  # ModelHandle.on_worker: work that must not overlap a forward pass of the worker
        return [fn(loaded) for fn in items]
    if op == "embed":
        return list(encoder(settings).embed(items))
    if op == "generate" and loaded.vllm is not None:
        return loaded.vllm.generate(items, settings, [loaded.adapter_folder(r.adapter) for r in items], limit)
    if op == "generate":
        return ops.generate_mixed(loaded, items, settings, limit)
    if op == "score":
        return ops.score_options(loaded, adapter, items, settings, limit)
    if op == "features":
        from oversight.runtime.features import features

        layers, pooling = settings
        return list(features(loaded, adapter, items, layers, pooling, limit))
    raise ValueError(f"unknown operation {op!r}")


@dataclass(frozen=True)
class ModelHandle:
    """A base model seen through one adapter (or none); every call goes through the batcher."""

    loaded: LoadedModel
    batcher: DynamicBatcher
    adapter: str | None = None
    max_context: int | None = None  # prompt tokens kept; longer prompts keep their end

    def generate(self, chats: Sequence[Chat], params: GenerationConfig = GenerationConfig()) -> list[Generation]:
        requests = [ops.GenerateRequest(c, self.adapter, params.max_new_tokens) for c in chats]
        if self.batcher.decoder is not None:  # rows join the running batch at its next step
            return self.batcher.run_stream([DecodeRequest(r, params, self.max_context) for r in requests])
        # Generations of every adapter and token limit share batches; only sampling settings split them.
        sampling = params.model_copy(update={"max_new_tokens": 1})
        return self.batcher.run(("generate", None, sampling, self.max_context), requests)

    def on_worker(self, fn: Callable[[LoadedModel], T]) -> T:
        """Run `fn(loaded)` on this model's worker thread, between two decoding steps.

        Only that thread may run forward passes (per-row adapters share one slot, see row_adapters.py),
        so a trainer that updates an adapter in place does its passes here, never beside a rollout.
        """
        return self.batcher.run(("call", None, None, None), [fn])[0]

    def score_options(self, chats: Sequence[Chat], options: Sequence[str]) -> list[dict[str, float]]:
        return self.batcher.run(("score", self.adapter, tuple(options), self.max_context), list(chats))

    def embed(self, texts: Sequence[str], encoder: str) -> Any:
        """Sentence embeddings, computed on this model's worker thread.

        Not in the caller's thread: on a small CPU an encoder running beside the worker doubled the
        cost of a decoding step (80 -> 157 ms, 16 rows), and the worker batches texts across callers.
        """
        import numpy as np

        return np.stack(self.batcher.run(("embed", None, encoder, None), list(texts)))

    def features(self, chats: Sequence[Chat], layers: Sequence[int] = (-1,), pooling: str = "last") -> Any:
        import numpy as np

        rows = self.batcher.run(("features", self.adapter, (tuple(layers), pooling), self.max_context),
                                list(chats))
        return np.stack(rows) if rows else np.zeros((0, self.loaded.hidden_size * len(layers)))
