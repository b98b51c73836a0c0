"""Calibrated thresholds kept beside a spec, never in it, and applied only while they still fit.

Writing chosen thresholds into graphs/NAME.yaml would change the spec's content hash
and strand the threads paused under it. A sidecar instead holds them keyed by what
they were measured with: the spec's hash, the constitution's, the roles file's, and a
content hash of every trained role's files (head spec and arrays, adapter weights; a head's
training-time metrics are left out, since they change no verdict). Content,
not registry ids: ids differ from machine to machine, while the first-run bootstrap
trains the same bytes from the same material (the safety head of two separate
bootstraps on this machine hashed the same), so a sidecar shipped in graphs/ fits a
clean clone. A retrained role or an edited spec changes the key: the sidecar is then
stale, reported, and not applied.

Where: $OVERSIGHT_HOME/calibration/NAME.json (what `graph calibrate` writes) wins over
graphs/NAME.calibration.json (shipped with the project, `graph calibrate --ship`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oversight.constitution import Constitution
from oversight.errors import OversightError
from oversight.graph.spec import GraphSpec
from oversight.graph.thresholds import apply_thresholds
from oversight.roles import RolesFile
from oversight.settings import Settings

SHIPPED_SUFFIX = ".calibration.json"


class CalibrationKey(BaseModel):
    """What a calibration was measured with; equal keys mean the thresholds still fit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str = Field(description="graph spec name")
    spec_hash: str = Field(description="content hash of the declared spec (GraphSpec.content_hash)")
    constitution_hash: str
    roles_config: str = Field(description="hash of the roles file as loaded (templates, generation settings)")
    roles: dict[str, str] = Field(description="role -> content hash of its trained files, or 'bare'")

    def differences(self, now: CalibrationKey) -> list[str]:
        """Readable reasons why thresholds measured under `self` do not fit `now`."""
        out = []
        if self.spec_hash != now.spec_hash:
            out.append(f"graph spec {now.spec} changed (hash {self.spec_hash} -> {now.spec_hash})")
        if self.constitution_hash != now.constitution_hash:
            out.append("the constitution changed")
        if self.roles_config != now.roles_config:
            out.append("the roles file (or its --set overrides) changed")
        for role in sorted(set(self.roles) | set(now.roles)):
            old, new = self.roles.get(role, "absent"), now.roles.get(role, "absent")
            if old != new:
                out.append(f"role {role} was retrained ({old} -> {new})")
        return out


class Sidecar(BaseModel):
    """Thresholds chosen by `graph calibrate`, with the figures that chose them."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    key: CalibrationKey
    thresholds: dict[str, float] = Field(description="dotted spec path -> value (graph/thresholds.py)")
    declared: dict[str, float] = Field(description="the spec's own values of the same thresholds")
    budget: float = Field(ge=0, le=1, description="benign escalation allowed")
    max_benign_refusal: float = Field(ge=0, le=1)
    expected: dict[str, dict[str, float]] = Field(
        description="rate name -> k, n, rate, low, high (Wilson) on the calibration prompts")
    trust_set: str
    trust_set_hash: str
    run_id: str
    created: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


def _sha(parts: list[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def _files_of(version: dict[str, Any]) -> list[Path]:
    """The files that make a role behave as it does: the head (spec and arrays) and the adapter weights."""
    files: list[Path] = []
    head = version.get("head")
    if head:
        head = Path(head)
        files += [head] + ([head.with_suffix(".safetensors")] if head.suffix != ".safetensors" else [])
    adapter = version.get("adapter")
    if adapter:
        folder = Path(adapter)
        files += sorted(p for p in folder.glob("*") if p.name == "adapter_config.json" or p.suffix == ".safetensors")
    return files


def _behaviour_bytes(path: Path) -> bytes:
    """A file's bytes, less what does not change behaviour: the training-time `metrics` of a head spec."""
    data = path.read_bytes()
    if path.suffix == ".json" and path.name != "adapter_config.json":
        try:
            spec = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return data
        if isinstance(spec, dict):
            spec.pop("metrics", None)
            return json.dumps(spec, sort_keys=True).encode()
    return data


def role_fingerprint(version: dict[str, Any] | None) -> str:
    """Content hash of a role's trained files ('bare' when it runs untrained)."""
    files = [f for f in _files_of(version or {}) if f.is_file()]
    return _sha([f.name.encode() + b"\0" + _behaviour_bytes(f) for f in files]) if files else "bare"


def current_key(spec: GraphSpec, constitution: Constitution, roles_file: RolesFile,
                versions: dict[str, Any]) -> CalibrationKey:
    """The key of the graph as it would run now (`versions`: role -> RoleVersion or its JSON)."""
    plain = {role: v.model_dump(mode="json") if hasattr(v, "model_dump") else v if isinstance(v, dict) else {}
             for role, v in versions.items() if role in roles_file.roles}
    roles_blob = json.dumps(roles_file.model_dump(mode="json"), sort_keys=True).encode()
    return CalibrationKey(spec=spec.name, spec_hash=spec.content_hash, constitution_hash=constitution.content_hash,
                          roles_config=_sha([roles_blob]),
                          roles={role: role_fingerprint(plain.get(role)) for role in sorted(roles_file.roles)})


def data_path(settings: Settings, spec: GraphSpec) -> Path:
    return settings.home / "calibration" / f"{spec.name}.json"


def shipped_path(spec: GraphSpec) -> Path | None:
    """graphs/NAME.calibration.json beside the spec file (None for a spec not read from a file)."""
    return spec.source.with_name(f"{spec.source.stem}{SHIPPED_SUFFIX}") if spec.source else None


def read_sidecar(path: Path) -> Sidecar:
    """Parse and validate a sidecar; a broken one is a one-line error naming the file."""
    try:
        return Sidecar.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise OversightError(f"no calibration sidecar at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OversightError(f"{path}: not a calibration sidecar (malformed JSON: {exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        raise OversightError(f"{path}: not a calibration sidecar ({where}: {first['msg']}); "
                             "run `graph calibrate` again or delete the file") from None


def write_sidecar(path: Path, sidecar: Sidecar) -> Path:
    """Atomic write: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(sidecar.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class InEffect:
    """Which thresholds a graph run decides with, and the line that says so."""

    status: Literal["calibrated", "stale", "declared"]
    decision_spec: GraphSpec
    message: str
    path: Path | None = None
    sidecar: Sidecar | None = None

    def record(self) -> dict[str, Any]:
        """What runs and trajectories store about it (beside the role versions)."""
        out: dict[str, Any] = {"status": self.status, "path": str(self.path) if self.path else None}
        if self.sidecar is not None and self.status == "calibrated":
            out |= {"thresholds": self.sidecar.thresholds, "budget": self.sidecar.budget,
                    "created": self.sidecar.created}
        return out


def summary(sidecar: Sidecar) -> str:
    esc = sidecar.expected.get("benign_escalation")
    expected = (f"expected benign escalation {esc['rate']:.1%} [{esc['low']:.0%}-{esc['high']:.0%}] "
                f"on {int(esc['n'])} {sidecar.trust_set} prompts") if esc else "no expected rate recorded"
    return f"calibrated for budget {sidecar.budget:.0%}, {expected}"


def resolve(settings: Settings, spec: GraphSpec, key: CalibrationKey) -> InEffect:
    """The first sidecar (data folder, then shipped) whose key matches; else the declared thresholds."""
    stale: list[str] = []
    for path in (data_path(settings, spec), shipped_path(spec)):
        if path is None or not path.is_file():
            continue
        sidecar = read_sidecar(path)
        why = sidecar.key.differences(key)
        if why:
            stale.append(f"{path} is stale ({'; '.join(why)})")
            continue
        applied = apply_thresholds(spec, sidecar.thresholds)
        return InEffect("calibrated", applied, f"thresholds: {summary(sidecar)} ({path})", path, sidecar)
    if stale:
        return InEffect("stale", spec, "WARNING: calibrated thresholds not applied: " + "; ".join(stale)
                        + f"; graph {spec.name} decides with its declared thresholds (run `graph calibrate`)")
    return InEffect("declared", spec, f"thresholds: as declared in graph {spec.name} (not calibrated)")


def in_effect(settings: Settings, spec: GraphSpec, constitution: Constitution, roles_file: RolesFile,
              versions: dict[str, Any]) -> InEffect:
    """The thresholds a graph run with these roles decides with (`resolve` on the current key)."""
    return resolve(settings, spec, current_key(spec, constitution, roles_file, versions))
