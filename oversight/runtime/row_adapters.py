"""Each row of a forward pass with its own LoRA adapter, without PEFT's per-call set-up.

PEFT mixes adapters in one batch through `adapter_names=`, but every such call walks
all modules to add and remove hooks, and `disable_adapter()` walks them twice: on
this project's model that cost 50-100 ms per forward pass, more than a whole
decoding step of 8 rows (40 ms). Here one hook per LoRA module is installed once
and reads the current row names from a shared slot; the slot is empty outside
`use`, so training and plain calls see an unchanged model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch


class RowAdapters:
    """Only the batcher's worker thread runs forward passes, so one slot serves all of them."""

    def __init__(self) -> None:
        self.names: list[str] | None = None
        self._hooked: set[int] = set()

    def install(self, model: Any) -> None:
        """Hook every LoRA module not hooked yet (call again after loading another adapter)."""
        from peft.tuners.lora import LoraLayer
        from peft.utils.other import AuxiliaryTrainingWrapper

        for module in model.modules():
            if isinstance(module, (LoraLayer, AuxiliaryTrainingWrapper)) and id(module) not in self._hooked:
                module.register_forward_pre_hook(self._inject, with_kwargs=True)
                self._hooked.add(id(module))

    def _inject(self, _module: Any, args: Any, kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if self.names is not None:
            kwargs["adapter_names"] = self.names
        return args, kwargs

    @contextlib.contextmanager
    def use(self, adapters: Sequence[str | None]) -> Iterator[None]:
        """Within the block, row i of a forward pass uses `adapters[i]` (None: the bare base model)."""
        self.names = [a or BASE for a in adapters]
        try:
            yield
        finally:
            self.names = None
