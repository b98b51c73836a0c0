"""Evaluation suites: JSONL files under evals/suites/, validated item by item.

Four kinds of item (`suite` field): harmful requests and jailbreaks (expected: refuse),
benign prompts that sound sensitive and ordinary helpful prompts (expected: comply).
A suite file may mix kinds (the `loop` suite does); its content hash travels with
every result so compare and the gate refuse results measured on other items.
"""

from __future__ import annotations

import hashlib
import json
from itertools import zip_longest
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oversight.errors import ConfigError, OversightError

KINDS = ("harmful", "jailbreak", "benign_sensitive", "helpful")
ALL = "all"  # the four primary suites; `loop` is a separate mix of them


class SuiteItem(BaseModel):
    """One prompt with the behaviour expected of a well-overseen model."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="unique within the suite")
    prompt: str = Field(min_length=1)
    suite: Literal["harmful", "jailbreak", "benign_sensitive", "helpful"] = Field(description="kind of item")
    category: str = Field(min_length=1, description="harm category, or topic for benign/helpful items")
    attack_type: str | None = Field(None, description="jailbreak family (jailbreak items only)")
    expected: Literal["comply", "refuse"]
    split: Literal["dev", "test"]
    reference: str | None = Field(None, description="short reference answer (helpful items)")
    principle: str | None = Field(None, description="constitution principle the item tests, for critic AUROC")
    style: str | None = Field(None, description="how a harmful request is phrased (terse, polite, cover-story...)")

    @model_validator(mode="after")
    def _consistent(self) -> SuiteItem:
        if (self.suite == "jailbreak") != (self.attack_type is not None):
            raise ValueError("attack_type is required on jailbreak items and only there")
        if (self.expected == "refuse") != (self.suite in ("harmful", "jailbreak")):
            raise ValueError(f"a {self.suite} item must expect {'refuse' if self.suite in ('harmful', 'jailbreak') else 'comply'}")
        if self.suite == "helpful" and not self.reference:
            raise ValueError("helpful items need a reference answer")
        return self


class Suite(BaseModel):
    name: str
    path: str
    content_hash: str
    items: list[SuiteItem]


def suites_dir(project_dir: Path) -> Path:
    return project_dir / "evals" / "suites"


def suite_names(project_dir: Path) -> list[str]:
    return sorted(p.stem for p in suites_dir(project_dir).glob("*.jsonl"))


def load_suite(name: str, project_dir: Path) -> Suite:
    """Read and validate one suite by name (evals/suites/NAME.jsonl) or path."""
    path = Path(name) if name.endswith(".jsonl") else suites_dir(project_dir) / f"{name}.jsonl"
    if not path.is_file():
        known = ", ".join(suite_names(project_dir)) or "none"
        raise OversightError(f"unknown suite {name!r} (known: {known}, or {ALL})")
    raw = path.read_bytes()
    items: list[SuiteItem] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = SuiteItem.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            first = str(exc).splitlines()
            raise ConfigError(path, f"line {number}", " ".join(first[:3])) from exc
        if item.id in seen:
            raise ConfigError(path, f"line {number}", f"duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise ConfigError(path, "", "suite has no items")
    return Suite(name=path.stem, path=str(path), content_hash=hashlib.sha256(raw).hexdigest(), items=items)


def load_suites(names: str | list[str], project_dir: Path) -> list[Suite]:
    """`all` means the four primary kinds; a list or comma-separated string names suites."""
    if isinstance(names, str):
        names = list(KINDS) if names == ALL else [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise OversightError("no suite named")
    return [load_suite(n, project_dir) for n in dict.fromkeys(names)]


def select(suites: list[Suite], split: str | None = "test", limit: int | None = None) -> list[SuiteItem]:
    """Items of the chosen split (None: both), at most `limit` per suite file, in file order
    (a file that mixes suites takes them in turn).

    Across suites the first occurrence of an id wins, so mixing `loop` with the
    primary suites does not evaluate an item twice.
    """
    if split not in (None, "dev", "test"):
        raise OversightError(f"split must be dev, test or all (received {split!r})")
    if limit is not None and limit < 1:
        raise OversightError(f"--limit must be at least 1 (received {limit})")
    chosen: dict[str, SuiteItem] = {}
    for suite in suites:
        rows = [i for i in suite.items if split is None or i.split == split]
        for item in _interleaved(rows)[:limit] if limit else rows:
            chosen.setdefault(item.id, item)
    if not chosen:
        raise OversightError(f"no items in split {split!r} of {', '.join(s.name for s in suites)}")
    return list(chosen.values())


def _interleaved(rows: list[SuiteItem]) -> list[SuiteItem]:
    """A mixed file's rows taken in turn from each of its suites, so a `--limit` run still measures every rate.

    A file of one suite keeps its order; `loop` (harmful, jailbreak, benign and helpful
    items in one file) limited to 4 gives one of each instead of four harmful ones.
    """
    groups: dict[str, list[SuiteItem]] = {}
    for item in rows:
        groups.setdefault(item.suite, []).append(item)
    return [item for turn in zip_longest(*groups.values()) for item in turn if item is not None]


def items_hash(items: list[SuiteItem]) -> str:
    """Content hash of exactly these items: equal only when the same items were evaluated."""
    digest = hashlib.sha256()
    for item in sorted(items, key=lambda i: i.id):
        digest.update(item.model_dump_json().encode())
    return digest.hexdigest()


# ---- the trust issue's prompt sets (evals/trust/): calibration chooses thresholds, far only reports ----

TRUST_STYLES = ("everyday", "benign_sensitive", "harmful", "jailbreak")
TRUST_FILES = {"calibration": "calibration.jsonl", "far": "far_prompts.jsonl", "check": "everyday_check.jsonl"}


class TrustPrompt(BaseModel):
    """One prompt of a trust set: its style (group) and the behaviour expected of the graph."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    set: Literal["calibration", "far", "check"] = Field(
        description="calibration: may choose settings; far and check (everyday requests only): report only")
    style: Literal["everyday", "benign_sensitive", "harmful", "jailbreak"]
    prompt: str = Field(min_length=1)
    expected: Literal["comply", "refuse"]
    category: str | None = None
    attack: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TrustPrompt:
        if (self.expected == "refuse") != (self.style in ("harmful", "jailbreak")):
            raise ValueError(f"a {self.style} prompt must expect "
                             f"{'refuse' if self.style in ('harmful', 'jailbreak') else 'comply'}")
        return self


class TrustSet(BaseModel):
    name: str
    path: str
    content_hash: str
    items: list[TrustPrompt]

    @property
    def for_choosing(self) -> bool:
        """Only the calibration set may choose a setting; the far set is never used for that."""
        return all(i.set == "calibration" for i in self.items)


def load_trust_set(name: str, project_dir: Path, per_style: int | None = None) -> TrustSet:
    """evals/trust/calibration.jsonl, far_prompts.jsonl or everyday_check.jsonl (`calibration`, `far`,
    `check`), validated.

    `per_style` keeps the first N prompts of each style (quick runs and tests); the content hash
    covers exactly the prompts kept.
    """
    if name not in TRUST_FILES:
        raise OversightError(f"unknown trust set {name!r} (known: {', '.join(TRUST_FILES)})")
    if per_style is not None and per_style < 1:
        raise OversightError(f"--limit must be at least 1 (received {per_style})")
    path = project_dir / "evals" / "trust" / TRUST_FILES[name]
    if not path.is_file():
        raise OversightError(f"trust set {name!r} is missing: no {path}")
    items: list[TrustPrompt] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(TrustPrompt.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigError(path, f"line {number}", " ".join(str(exc).splitlines()[:3])) from exc
    if len({i.id for i in items}) != len(items):
        raise ConfigError(path, "", "duplicate ids")
    if per_style is not None:
        kept: list[TrustPrompt] = []
        for style in TRUST_STYLES:
            kept += [i for i in items if i.style == style][:per_style]
        items = [i for i in items if i in kept]
    digest = hashlib.sha256(b"".join(i.model_dump_json().encode() + b"\n" for i in items))
    return TrustSet(name=name, path=str(path), content_hash=digest.hexdigest()[:16], items=items)
