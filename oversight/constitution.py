"""Constitutions: versioned, composable lists of principles.

A constitution file may `extends:` another; its principles then override the
parent's by id (only the fields given change), add new ones, or `remove:` ids.
The resolved constitution has a content hash that everything derived from it
stores, so a trajectory always says which exact rules judged it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oversight.declared import read_yaml, resolve_declared, validate
from oversight.errors import ConfigError

CATEGORIES = (
    "safety", "privacy", "honesty", "fairness", "compliance",
    "manipulation", "reliability", "helpfulness",
)
# Violating a principle of these categories makes a response harmful: the safety model's response
# label, and the critic verdicts the graph compares with the safety model.
HARM_CATEGORIES = ("safety", "privacy", "compliance", "manipulation", "fairness")
ATTACK_TYPES = ("injection", "roleplay", "encoding", "policy-override", "multi-turn")
_ID_PATTERN = r"^[a-z][a-z0-9-]*$"


class Principle(BaseModel):
    """One rule the critic checks and the reviser enforces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_PATTERN, description="stable id, kept across versions")
    category: str = Field(description="what kind of harm or value this protects")
    text: str = Field(min_length=1, description="the principle itself")
    critique_request: str = Field(min_length=1, description="what the critic is asked")
    revision_request: str = Field(min_length=1, description="what the reviser is asked")
    priority: int = Field(ge=1, le=100, description="1 is the highest; decides conflicts between principles")
    weight: float = Field(gt=0, le=1000, allow_inf_nan=False, description="share in the weighted judge score")
    applies_when: str | None = Field(default=None, description="notes on when it applies")


class Constitution(BaseModel):
    """A resolved constitution (after `extends`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    description: str = ""
    categories: tuple[str, ...] = CATEGORIES
    attack_types: tuple[str, ...] = ATTACK_TYPES
    principles: tuple[Principle, ...]
    material: tuple[Path, ...] = Field(
        default=(), description="folders of demonstrations and labels, the parent's first (accumulated via extends)")
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("principles")
    @classmethod
    def _unique_ids(cls, principles: tuple[Principle, ...]) -> tuple[Principle, ...]:
        seen: set[str] = set()
        for p in principles:
            if p.id in seen:
                raise ValueError(f"principle id {p.id!r} is used twice")
            seen.add(p.id)
        if not principles:
            raise ValueError("a constitution needs at least one principle")
        return principles

    @model_validator(mode="after")
    def _known_categories(self) -> Constitution:
        for i, p in enumerate(self.principles):
            if p.category not in self.categories:
                raise ValueError(
                    f"principles[{i}:{p.id}].category {p.category!r} is not one of {list(self.categories)}")
        return self

    @property
    def content_hash(self) -> str:
        """sha256 over the rules themselves (not file layout or comments)."""
        body = self.model_dump(mode="json", exclude={"material", "source", "description"})
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def principle(self, principle_id: str) -> Principle:
        for p in self.principles:
            if p.id == principle_id:
                return p
        raise KeyError(principle_id)

    def by_priority(self) -> list[Principle]:
        return sorted(self.principles, key=lambda p: (p.priority, -p.weight, p.id))


class _File(BaseModel):
    """A constitution file as written (before `extends` is applied)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    version: str | int | float
    description: str = ""
    extends: str | None = None
    categories: list[str] | None = None
    attack_types: list[str] | None = None
    material: str | None = None
    remove: list[str] = []
    principles: list[dict[str, Any]] = []


def load_constitution(name_or_path: str | Path, project_dir: Path, _chain: tuple[Path, ...] = ()) -> Constitution:
    """Load and resolve a constitution by name (constitutions/NAME.yaml) or path."""
    path = resolve_declared("constitutions", name_or_path, project_dir).resolve()
    if path in _chain:
        raise ConfigError(path, "extends", "circular extends", str(name_or_path))
    raw = read_yaml(path)
    decl = validate(_File, raw, path)
    base: dict[str, Any] = {"categories": list(CATEGORIES), "attack_types": list(ATTACK_TYPES),
                            "principles": [], "material": ()}
    if decl.extends:
        try:
            resolve_declared("constitutions", decl.extends, project_dir)
        except ConfigError as exc:  # name the file and key that hold the reference
            raise ConfigError(path, "extends", exc.problem, decl.extends) from None
        parent = load_constitution(decl.extends, project_dir, _chain + (path,))
        base = parent.model_dump(mode="python", exclude={"source"})
        base["principles"] = [p.model_dump() for p in parent.principles]
    merged = {p["id"]: dict(p) for p in base["principles"]}
    own: set[str] = set()
    for i, given in enumerate(decl.principles):
        pid = given.get("id")
        if not isinstance(pid, str):
            raise ConfigError(path, f"principles[{i}].id", "missing required field")
        if pid in own:
            raise ConfigError(path, f"principles[{i}:{pid}].id", "principle id is used twice", pid)
        own.add(pid)
        if pid in merged:
            merged[pid] = {**merged[pid], **given}
        else:
            merged[pid] = dict(given)
    for j, pid in enumerate(decl.remove):
        if pid not in merged:
            raise ConfigError(path, f"remove[{j}]", "no such principle to remove", pid)
        del merged[pid]
    material = tuple(base.get("material") or ())
    if decl.material is not None:
        own_folder = (path.parent / decl.material).resolve()
        material = material + (own_folder,) if own_folder not in material else material
    data = {
        "name": decl.name or path.stem,
        "version": str(decl.version),
        "description": decl.description,
        "categories": decl.categories or base["categories"],
        "attack_types": decl.attack_types or base["attack_types"],
        "principles": list(merged.values()),
        "material": material,
        "source": path,
    }
    return validate(Constitution, data, path)
