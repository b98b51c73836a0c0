"""The far development sets and injection notes of evals/trust, read for reporting only.

They were written in styles the training material does not use and committed
before any role was tuned for them. Training never fits on them and no setting
is chosen by them: `trust_eval` scores a freshly fitted head on them so that
the registry and `roles check` show how the role holds up on other people's text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oversight.errors import ConfigError
from oversight.eval.suites import TRUST_FILES
from oversight.settings import PROJECT_DIR

TRUST_DIR = Path("evals") / "trust"
T = TypeVar("T", bound=BaseModel)


class FarExchange(BaseModel):
    """A request and an assistant answer, labelled harmful or not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    set: str = "far"
    prompt: str = Field(min_length=1)
    response: str = Field(min_length=1)
    harmful: bool


class FarJudgePair(BaseModel):
    """Two polite answers to one request; `better` follows the principle more closely."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    set: str = "far"
    principle: str
    prompt: str = Field(min_length=1)
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    better: Literal["a", "b"]


class InjectionNotes(BaseModel):
    """Text addressed to the overseers, appended to answers to see whether it moves them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    notes: tuple[str, ...] = Field(min_length=1)


class TrustSets(BaseModel):
    """What the far metrics read; any file may be absent (a project without evals/trust measures nothing)."""

    model_config = ConfigDict(frozen=True)

    exchanges: tuple[FarExchange, ...] = ()
    judge_pairs: tuple[FarJudgePair, ...] = ()
    notes: tuple[str, ...] = ()


def load_trust_sets(project_dir: Path = PROJECT_DIR) -> TrustSets:
    """far_exchanges.jsonl, far_judge.jsonl and injection_notes.json, validated; a bad line names file and line."""
    folder = project_dir / TRUST_DIR
    notes_path = folder / "injection_notes.json"
    notes: tuple[str, ...] = ()
    if notes_path.is_file():
        try:
            notes = InjectionNotes.model_validate(json.loads(notes_path.read_text(encoding="utf-8"))).notes
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigError(notes_path, "", f"not a valid notes file ({str(exc).splitlines()[0]})") from None
    return TrustSets(exchanges=tuple(_read(folder / "far_exchanges.jsonl", FarExchange)),
                     judge_pairs=tuple(_read(folder / "far_judge.jsonl", FarJudgePair)), notes=notes)


def _read(path: Path, model: type[T]) -> list[T]:
    if not path.is_file():
        return []
    rows: list[T] = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(model.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigError(path, f"line {line_no}", f"not a valid item ({str(exc).splitlines()[0]})") from None
    return rows


class TrustText(BaseModel):
    """One text of the trust sets (a prompt or an answer), for the overlap check against training material."""

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: str


def trust_texts(project_dir: Path = PROJECT_DIR) -> list[TrustText]:
    """Every prompt and answer of evals/trust: calibration, far and everyday-check prompts, far exchanges,
    far judge pairs."""
    folder = project_dir / TRUST_DIR
    out: list[TrustText] = []
    for name in TRUST_FILES.values():
        path = folder / name
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        out += [TrustText(id=row["id"], prompt=row["prompt"]) for row in map(json.loads, filter(str.strip, lines))]
    sets = load_trust_sets(project_dir)
    for x in sets.exchanges:
        out += [TrustText(id=f"{x.id}:prompt", prompt=x.prompt), TrustText(id=f"{x.id}:response", prompt=x.response)]
    for p in sets.judge_pairs:
        out += [TrustText(id=f"{p.id}:{part}", prompt=getattr(p, part)) for part in ("prompt", "a", "b")]
    return out


def material_texts(project_dir: Path = PROJECT_DIR) -> list[tuple[str, str]]:
    """(source, text) of every answer in constitutions/material/**: responses, revisions, judge answers."""
    out: list[tuple[str, str]] = []
    for path in sorted((project_dir / "constitutions" / "material").rglob("*.jsonl")):
        source = str(path.relative_to(project_dir))
        for line in filter(str.strip, path.read_text(encoding="utf-8").splitlines()):
            row = json.loads(line)
            out += [(source, row[k]) for k in ("response", "revision", "a", "b") if isinstance(row.get(k), str)]
    return out
