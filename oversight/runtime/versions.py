"""What a role runs with: adapter folder, head file, registry version; and version folders' manifests.

Every trained version is a folder holding `role_version.json`, which names its
head file and adapter folder (relative to itself), or another role whose active
adapter it borrows (the critic writes critiques with the reviser's adapter).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oversight.errors import OversightError

MANIFEST = "role_version.json"


class RoleVersion(BaseModel):
    """The trained parts one role uses; None everywhere means the bare model, zero-shot."""

    model_config = ConfigDict(frozen=True)

    adapter: Path | None = Field(default=None, description="LoRA adapter folder, or None for the bare model")
    head: Path | None = Field(default=None, description="classifier head file, or None for zero-shot scoring")
    version_id: int | None = Field(default=None, description="registry id when it came from `trained`")

    @property
    def untrained(self) -> bool:
        return self.adapter is None and self.head is None


class VersionManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    kind: str
    head: str | None = None
    adapter: str | None = None
    adapter_from: str | None = Field(default=None, description="role whose active adapter this version uses")
    constitution: str | None = None
    constitution_hash: str | None = None
    created: str = ""
    train_seconds: float | None = None

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / MANIFEST
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def read(cls, folder: Path) -> VersionManifest:
        path = Path(folder) / MANIFEST
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise OversightError(f"registered version folder {folder} has no {MANIFEST} (deleted or moved?)") from None
        except (json.JSONDecodeError, ValueError) as exc:
            raise OversightError(f"{path}: not a valid version manifest ({str(exc).splitlines()[0]})") from None

    def head_path(self, folder: Path) -> Path | None:
        return Path(folder) / self.head if self.head else None

    def adapter_path(self, folder: Path) -> Path | None:
        return Path(folder) / self.adapter if self.adapter else None


def versions_json(versions: dict[str, Any]) -> dict[str, Any]:
    """Role versions as plain JSON, as stored with runs and trajectories."""
    return {role: v.model_dump(mode="json") if hasattr(v, "model_dump") else v for role, v in versions.items()}
