"""Loading base models and their LoRA adapters, once per process.

`load_base` is also what the trainer uses, so training and serving see the same
weights, dtype and tokenizer set-up (left padding, a pad token).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.roles import ModelConfig, check_adapter_folder
from oversight.runtime.row_adapters import RowAdapters


def pick_device(wanted: str, setting: str = "auto") -> str:
    """The torch device for a model: its roles-file `device`, or where that says auto, the
    process setting (OVERSIGHT_DEVICE); auto at both levels means CUDA when present."""
    import torch

    if wanted == "auto":
        wanted = setting
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        where = "by OVERSIGHT_DEVICE" if setting == wanted else "by the roles file"
        raise OversightError(f"device {wanted!r} was asked for {where}, but no CUDA device is available "
                             "(set OVERSIGHT_DEVICE=cpu or auto)")
    return wanted


def pick_dtype(wanted: str, device: str) -> Any:
    """auto: bfloat16 where the device computes it natively, else float16 (GPU) or float32 (CPU).

    On a CPU with bfloat16 units (AVX512-BF16, AMX, Arm BF16) bfloat16 runs the 135M model about ten
    times faster than float32; on one without, torch emulates it, and a bfloat16 matmul measured 0.9
    GFLOP/s against 66 for float32 (an AVX2-only EPYC): there it is float32.
    """
    import torch

    if wanted == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_bf16() else torch.float32
    return getattr(torch, wanted)


def dtype_name(wanted: str, device: str) -> str:
    """`pick_dtype` as a name ("bfloat16", "float32"): what a training recipe's `dtype: auto` means here."""
    return str(pick_dtype(wanted, device)).removeprefix("torch.")


@functools.cache
def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has native bfloat16 arithmetic (its feature flags; False where they can't be read)."""
    try:
        flags = set(cpuinfo.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def model_folder(config: ModelConfig, models_dir: Path) -> str:
    """Where from_pretrained should look: the converted embedded model, a folder or a hub id."""
    if config.embedded_name:
        from oversight.runtime.embedded import prepare_embedded

        return str(prepare_embedded(config.embedded_name, models_dir))
    return config.source


def load_tokenizer(config: ModelConfig, models_dir: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_folder(config, models_dir))
    tokenizer.padding_side = "left"  # batched generation continues right after each prompt
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(config: ModelConfig, models_dir: Path, *, dtype: Any = None, device: str | None = None) -> Any:
    """Load a causal LM in eval mode, named by its hub id so adapters record the right base."""
    from transformers import AutoModelForCausalLM

    device = device or pick_device(config.device)
    dtype = dtype or pick_dtype(config.dtype, device)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_folder(config, models_dir), dtype=dtype)
    except OSError as exc:
        raise OversightError(f"cannot load model {config.source!r}: {str(exc).splitlines()[0]}") from None
    model.name_or_path = config.hub_id
    model.config._name_or_path = config.hub_id
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = model.generation_config.eos_token_id
    return model.to(device).eval()


@dataclass
class FeatureStats:
    """What feature passes computed (runtime/features.py); the runtime's report prints it."""

    rows: int = 0             # rows asked for
    tokens: int = 0           # token positions run through the model, padding included
    saved: int = 0            # token positions shared prefixes and duplicate rows did not run again


@dataclass
class LoadedModel:
    """One base model in memory, plus the adapters loaded into it by name."""

    config: ModelConfig
    model: Any
    tokenizer: Any
    device: str
    adapters: dict[str, str] = field(default_factory=dict)  # folder -> adapter name
    vllm: Any = None  # a VllmGenerator when the model's backend is vllm (generation only)
    lock: threading.Lock = field(default_factory=threading.Lock)
    row_adapters: RowAdapters = field(default_factory=RowAdapters)  # per-row adapters in one pass
    feature_stats: FeatureStats = field(default_factory=FeatureStats)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def adapter_folder(self, name: str | None) -> str | None:
        return next((f for f, n in self.adapters.items() if n == name), None) if name else None

    def adapter_name(self, folder: str | Path) -> str:
        """Load a LoRA adapter once (PEFT multi-adapter); return its name inside the model."""
        folder = str(Path(folder).resolve())
        with self.lock:
            if folder in self.adapters:
                return self.adapters[folder]
            check_adapter_folder(Path(folder), self.config.hub_id, folder, "adapter")
            from peft import PeftModel

            name = f"adapter{len(self.adapters)}"
            try:
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(folder, adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(self.model, folder, adapter_name=name)
            except (RuntimeError, ValueError) as exc:
                raise OversightError(f"adapter {folder} does not fit model {self.config.source!r}: "
                                     f"{str(exc).splitlines()[0][:200]}") from None
            self.model.eval()
            self.row_adapters.install(self.model)
            self.adapters[folder] = name
            return name

    def create_adapter(self, folder: str | Path, lora_config: Any) -> str:
        """Add a fresh LoRA adapter (PEFT init: the B matrices are zero, so it starts as the bare model),
        save it to `folder` and return its name: a trainer can then update it in place while the runtime
        serves it (PPO rollouts), with no second copy of the base model in memory."""
        folder = Path(folder).resolve()
        with self.lock:
            from peft import PeftModel, get_peft_model

            name = f"adapter{len(self.adapters)}"
            if isinstance(self.model, PeftModel):
                self.model.add_adapter(name, lora_config)
            else:
                self.model = get_peft_model(self.model, lora_config, adapter_name=name)
            self.model.eval()
            self.row_adapters.install(self.model)
            save_adapter(self.model, name, folder)
            self.adapters[str(folder)] = name
            return name


def save_adapter(model: Any, name: str, folder: Path) -> None:
    """Write one named adapter of a PEFT model as a plain adapter folder (as if it were "default")."""
    import shutil
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        # PEFT writes non-default adapters to tmp/name. No embedding layers: LoRA never targets them here, and
        # PEFT's "auto" would look the base model's config up on the Hugging Face hub (a network call).
        model.save_pretrained(tmp, selected_adapters=[name], save_embedding_layers=False)
        shutil.rmtree(folder, ignore_errors=True)
        Path(tmp, name).rename(folder)

