"""KV-cache helpers shared by continuous decoding and prefix-shared feature passes.

Both build a transformers `DynamicCache` from tensors they computed themselves
(rows selected, merged or repeated), so the construction lives in one place.
"""

from __future__ import annotations

import functools
from typing import Any


def cache_from(layers: list[tuple[Any, Any]]) -> Any:
    """A DynamicCache whose layers grow into spare room (see `growing_layer`), filled with these tensors."""
    from transformers import DynamicCache

    cache = DynamicCache()
    cache.layer_class_to_replicate = growing_layer()
    for keys, values in layers:
        layer = cache.layer_class_to_replicate()
        layer.update(keys, values)
        cache.layers.append(layer)
    return cache


@functools.cache
def growing_layer() -> type:
    """A cache layer that writes each step into spare room instead of concatenating.

    transformers' DynamicLayer concatenates, copying the whole cache of every row at every step; with
    16 rows of 500 tokens that is 160 MB of copying (and fresh memory) per step. Here the tensors are
    views into a buffer that grows 64 positions at a time.
    """
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        spare = 64

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self._room: tuple[Any, Any] | None = None
                self._length = 0
            n, q = self._length, key_states.shape[-2]
            if self._room is None or n + q > self._room[0].shape[-2]:
                shape = (*key_states.shape[:-2], n + q + self.spare, key_states.shape[-1])
                room = (key_states.new_empty(shape), value_states.new_empty(shape))
                if n:
                    room[0][..., :n, :] = self.keys
                    room[1][..., :n, :] = self.values
                self._room = room
            self._room[0][..., n:n + q, :] = key_states
            self._room[1][..., n:n + q, :] = value_states
            self._length = n + q
            self.keys, self.values = self._room[0][..., :n + q, :], self._room[1][..., :n + q, :]
            return self.keys, self.values

    return GrowingLayer


def cache_kwarg(model: Any) -> str:
    """The forward keyword for a KV cache: `cache` in newer transformers 5 releases, `past_key_values` before."""
    return _cache_kwarg(type(model))


@functools.cache
def _cache_kwarg(model_class: type) -> str:
    import inspect

    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def cache_tensors(cache: Any) -> list[tuple[Any, Any]]:
    """Per layer (keys, values) of a DynamicCache, for the layers a pass has filled."""
    return [(layer.keys, layer.values) for layer in cache.layers if getattr(layer, "is_initialized", True)]


def left_pad(t: Any, width: int) -> Any:
    """Zero-pad dimension -1 (masks) or -2 (keys and values) on the left to `width`."""
    import torch.nn.functional as F

    dim = -1 if t.dim() == 2 else -2
    missing = width - t.shape[dim]
    if missing <= 0:
        return t
    return F.pad(t, (missing, 0)) if dim == -1 else F.pad(t, (0, 0, missing, 0))
