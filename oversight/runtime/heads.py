"""Classifier heads: linear read-outs of a frozen model's hidden states, calibrated.

A small model cannot answer "is this harmful?" zero-shot, but its middle-late
hidden states separate the cases linearly. A head is a standardiser plus one
linear layer per output, with the calibration fitted on data its evaluation
never saw. Saved as JSON (metadata) plus safetensors (arrays): no pickle, so a
downloaded head cannot run code.

Output kinds:
- binary: P(label) = sigmoid(a * (w . z + b) + c)            (Platt scaling a, c)
- multiclass: softmax((W z + b) / T) over `labels`           (temperature T)
- pairwise: P(second better) = sigmoid(a * w . (z2 - z1) + c) (Bradley-Terry; symmetric in order when c = 0)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from oversight.errors import OversightError
from oversight.roles import RoleConfig

HEAD_FORMAT = 1


class HeadOutput(BaseModel):
    """One read-out of a head; its arrays live in the safetensors file under `<name>.weight/.bias`."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["binary", "multiclass", "pairwise"]
    template: str = Field(description="prompts key whose chat produced the features")
    labels: tuple[str, ...] = Field(default=(), description="class names (multiclass)")
    platt_a: float = 1.0
    platt_c: float = 0.0
    temperature: float = Field(default=1.0, gt=0)
    principle_text: str = Field(default="", description=(
        "a per-principle read-out: the principle's text when it was trained (runtime/critic_scores.py)"))


class HeadSpec(BaseModel):
    """Everything needed to reproduce the features a head was trained on."""

    model_config = ConfigDict(extra="forbid")

    format: int = HEAD_FORMAT
    role: str
    base_model: str = Field(description="hub id of the model whose hidden states are read")
    layers: tuple[int, ...]
    pooling: Literal["last", "mean"]
    encoder: str | None = Field(default=None, description="sentence encoder appended to the hidden states")
    encoder_input: str | None = Field(default=None, description="prompts key the encoder read (None: the chat)")
    feature_dtype: str = Field(description="dtype the model ran in when features were taken")
    outputs: dict[str, HeadOutput]
    templates: dict[str, str] = Field(default_factory=dict, description=(
        "prompt templates the features were read through, by key; '_system' is the system prompt"))
    calibration: str = Field(default="", description="how probabilities were calibrated, in words")
    metrics: dict[str, Any] = Field(default_factory=dict)

    def mismatch(self, role: RoleConfig) -> str | None:
        """Why features built from this role config would differ from the ones the head learned, or None."""
        if not self.templates:
            return "it records no prompt templates (trained by an older version)"
        for key, text in self.templates.items():
            current = (role.system_prompt or "") if key == SYSTEM_KEY else role.prompts.get(key)
            if current != text:
                what = "system prompt" if key == SYSTEM_KEY else f"prompt template {key!r}"
                return f"its {what} differs from the roles file's"
        wanted = role.features
        if (tuple(wanted.layers), wanted.pooling, wanted.encoder) != (tuple(self.layers), self.pooling, self.encoder):
            return (f"it reads layers {list(self.layers)} ({self.pooling}, encoder {self.encoder}), the roles file "
                    f"asks for {list(wanted.layers)} ({wanted.pooling}, encoder {wanted.encoder})")
        if wanted.encoder_input != self.encoder_input:
            return (f"its encoder read {self.encoder_input or 'the whole chat'}, the roles file asks for "
                    f"{wanted.encoder_input or 'the whole chat'}")
        return None


SYSTEM_KEY = "_system"


def head_templates(role: RoleConfig, keys: set[str]) -> dict[str, str]:
    """What `HeadSpec.templates` records for a head trained through these templates of `role`."""
    return {**{key: role.prompts[key] for key in sorted(keys)}, SYSTEM_KEY: role.system_prompt or ""}


class Head:
    """A loaded head: spec plus arrays; predictions are plain numpy."""

    def __init__(self, spec: HeadSpec, arrays: dict[str, np.ndarray]) -> None:
        self.spec = spec
        self.arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        dim = self.arrays["mean"].shape[0]
        for name, out in spec.outputs.items():
            for key in (f"{name}.weight", f"{name}.bias"):
                if key not in self.arrays:
                    raise OversightError(f"head for role {spec.role!r} lacks array {key!r}")
            weight = self.arrays[f"{name}.weight"]
            if weight.shape[-1] != dim:
                raise OversightError(f"head output {name!r} expects {weight.shape[-1]} features, the "
                                     f"standardiser {dim}")
            if out.kind == "multiclass" and weight.shape[0] != len(out.labels):
                raise OversightError(f"head output {name!r} has {weight.shape[0]} rows for "
                                     f"{len(out.labels)} labels")

    @property
    def feature_dim(self) -> int:
        return int(self.arrays["mean"].shape[0])

    def standardise(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[1] != self.feature_dim:
            raise OversightError(f"head for role {self.spec.role!r} expects {self.feature_dim} features per "
                                 f"row, received shape {features.shape}")
        return (features - self.arrays["mean"]) / self.arrays["scale"]

    def _output(self, name: str, kind: str) -> HeadOutput:
        out = self.spec.outputs.get(name)
        if out is None or out.kind != kind:
            raise KeyError(f"head for role {self.spec.role!r} has no {kind} output {name!r}")
        return out

    def logits(self, name: str, features: np.ndarray) -> np.ndarray:
        """Uncalibrated scores (binary: [n]; multiclass: [n, k])."""
        z = self.standardise(features)
        weight, bias = self.arrays[f"{name}.weight"], self.arrays[f"{name}.bias"]
        return z @ weight.T + bias if weight.ndim == 2 else z @ weight + float(bias.reshape(-1)[0])

    def binary(self, name: str, features: np.ndarray) -> np.ndarray:
        out = self._output(name, "binary")
        return _sigmoid(out.platt_a * self.logits(name, features) + out.platt_c)

    def multiclass(self, name: str, features: np.ndarray) -> list[dict[str, float]]:
        out = self._output(name, "multiclass")
        scores = self.logits(name, features) / out.temperature
        scores = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
        return [dict(zip(out.labels, map(float, row), strict=True)) for row in probs]

    def pairwise(self, name: str, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """P(second is better than first)."""
        out = self._output(name, "pairwise")
        weight = self.arrays[f"{name}.weight"]
        diff = self.standardise(second) - self.standardise(first)
        return _sigmoid(out.platt_a * (diff @ weight) + out.platt_c)

    def save(self, path: Path) -> Path:
        """Write `path` (JSON spec) and the arrays beside it as `<stem>.safetensors`."""
        from safetensors.numpy import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: np.ascontiguousarray(v) for k, v in self.arrays.items()}, str(_arrays_path(path)))
        path.write_text(self.spec.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path, *, role: str | None = None, base_model: str | None = None) -> Head:
        """Load a head; given `role` / `base_model`, a head made for another one is a one-line error."""
        from safetensors.numpy import load_file

        path = _spec_path(path)
        spec = read_head_spec(path, role=role, base_model=base_model)
        return cls(spec, load_file(str(_arrays_path(path))))


def read_head_spec(path: Path, *, role: str | None = None, base_model: str | None = None) -> HeadSpec:
    """A head's spec alone (no arrays), validated; a missing, broken or foreign file is a one-line error.

    A head reads one role's prompt layout through one model's hidden states: given to another role, or
    to a role on another base model, it would return confident nonsense, so it is refused.
    """
    from pydantic import ValidationError

    path = _spec_path(path)
    if not path.is_file() or not _arrays_path(path).is_file():
        raise OversightError(f"head not found: {path} (and {_arrays_path(path).name} beside it)")
    try:
        spec = HeadSpec.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise OversightError(f"{path}: not a valid head file ({str(exc).splitlines()[0]})") from None
    if spec.format != HEAD_FORMAT:
        raise OversightError(f"{path}: head format {spec.format} is not supported (expected {HEAD_FORMAT})")
    if role is not None and spec.role != role:
        raise OversightError(f"{path}: this head was trained for role {spec.role!r}, not {role!r}; "
                             f"give {role} its own head (train --role {role})")
    if base_model is not None and spec.base_model != base_model \
            and Path(spec.base_model).name != Path(base_model).name:
        raise OversightError(f"{path}: this head reads the hidden states of {spec.base_model!r}, but role "
                             f"{spec.role!r} runs on {base_model!r}; train a head for that model")
    return spec


def _spec_path(path: Path) -> Path:
    path = Path(path)
    return path / "head.json" if path.is_dir() else path


def _arrays_path(path: Path) -> Path:
    return path.with_suffix(".safetensors")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -40, 40)))
