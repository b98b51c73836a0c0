"""Do evaluation prompts leak into training material? Exact and near-duplicate checks.

A suite measures generalisation only if its prompts were never trained on; near
duplicates (a reworded copy) are found by cosine similarity of sentence embeddings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oversight.eval.suites import SuiteItem

NEAR_DUPLICATE = 0.9


@dataclass(frozen=True)
class Overlap:
    item_id: str
    prompt: str
    other: str
    source: str
    cosine: float


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def training_prompts(project_dir: Path) -> list[tuple[str, str]]:
    """(source, prompt) of every prompt in constitutions/material/** and samples/."""
    out: list[tuple[str, str]] = []
    files = sorted((project_dir / "constitutions" / "material").rglob("*.jsonl"))
    files += sorted((project_dir / "samples").glob("*.jsonl"))
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if isinstance(row.get("prompt"), str):
                    out.append((str(path.relative_to(project_dir)), row["prompt"]))
    for path in sorted((project_dir / "samples").glob("*.txt")):
        out += [(str(path.relative_to(project_dir)), t) for t in path.read_text().splitlines() if t.strip()]
    return out


def find_overlaps(items: Sequence[SuiteItem], others: Iterable[tuple[str, str]], embed,
                  threshold: float = NEAR_DUPLICATE) -> list[Overlap]:
    """Items equal (after normalising) or cosine >= threshold to any other text.

    `embed` maps a list of texts to L2-normalised rows (the runtime's sentence encoder).
    """
    others = list(others)
    if not items or not others:
        return []
    found: list[Overlap] = []
    exact = {normalise(text): (source, text) for source, text in others}
    for item in items:
        hit = exact.get(normalise(item.prompt))
        if hit:
            found.append(Overlap(item.id, item.prompt, hit[1], hit[0], 1.0))
    a = np.asarray(embed([i.prompt for i in items]), dtype=np.float32)
    b = np.asarray(embed([t for _, t in others]), dtype=np.float32)
    sims = a @ b.T
    flagged = {o.item_id for o in found}
    for row, item in enumerate(items):
        col = int(sims[row].argmax())
        if sims[row, col] >= threshold and item.id not in flagged:
            found.append(Overlap(item.id, item.prompt, others[col][1], others[col][0], float(sims[row, col])))
    return found
