"""What an eval run measures: the bare base model, a registry version of its adapter, or a graph.

`base` and `base@VERSION` answer through the base role's generate path (the same
chat template and settings the graph uses); `graph:SPEC` runs the whole spec with
the roles the caller built (building them needs the trainer, which only the face may call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oversight.errors import OversightError

_TARGET = re.compile(r"^(?:(?P<base>base)(?:@(?P<version>\d+))?|graph:(?P<spec>[\w./-]+))$")


@dataclass(frozen=True)
class Target:
    kind: str                    # base | graph
    version: int | None = None   # registry id of a base adapter (base@N)
    spec: str | None = None      # graph spec name or path (graph:SPEC)

    @property
    def name(self) -> str:
        if self.kind == "graph":
            return f"graph:{self.spec}"
        return f"base@{self.version}" if self.version is not None else "base"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-zA-Z0-9]+", "-", self.name).strip("-")


def parse_target(text: str) -> Target:
    match = _TARGET.match(text.strip())
    if not match:
        raise OversightError(f"unknown target {text!r}: use base, base@VERSION (a registry id) or graph:SPEC")
    if match["spec"]:
        return Target("graph", spec=match["spec"])
    return Target("base", version=int(match["version"]) if match["version"] else None)


def base_version(store: Any, version_id: int) -> tuple[Path | None, dict[str, Any]]:
    """The adapter folder of registry version `version_id` of the base role, and its description."""
    from oversight.runtime.versions import VersionManifest
    from oversight.store import get_version

    if store is None:
        raise OversightError(f"base@{version_id} needs the store to look the version up")
    record = get_version(store, version_id)
    if record is None:
        raise OversightError(f"no model version {version_id} in the registry (see `train` / `retrain` output)")
    if record.role != "base":
        raise OversightError(f"model version {version_id} belongs to role {record.role!r}, not base")
    adapter = VersionManifest.read(Path(record.path)).adapter_path(Path(record.path))
    if adapter is None:
        raise OversightError(f"model version {version_id} of base has no adapter to answer with")
    info = {"version_id": record.id, "kind": record.kind, "status": record.status,
            "base_model": record.base_model, "adapter": str(adapter), "created_at": str(record.created_at)}
    return adapter, info
