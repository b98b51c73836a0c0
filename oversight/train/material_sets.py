"""TRL-format datasets written from the constitution's shipped material (benchmarks, tests, a cold start).

Two pair families that are written differently, so one can train and the other
test without leakage: `revision` pairs (a demonstration's constitutional
revision chosen over the violating draft) and `judge` pairs (two separately
written answers, the judge material's better one chosen).
"""

from __future__ import annotations

from typing import Any, Literal

from oversight.constitution import Constitution
from oversight.train.material import CritiqueDemo, JudgePair, load_material


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def revision_rows(constitution: Constitution, split: str | None = None) -> list[dict[str, Any]]:
    """Preference rows: revision (chosen) over the violating draft (rejected)."""
    demos = load_material(constitution, "critique_revision").items
    return [{"prompt": _user(d.prompt), "chosen": _assistant(d.revision), "rejected": _assistant(d.response),
             "probability": 1.0, "source": "material", "principle": d.principle}
            for d in demos if isinstance(d, CritiqueDemo) and d.violates and d.revision
            and (split is None or d.split == split)]


def judge_rows(constitution: Constitution, split: str | None = None) -> list[dict[str, Any]]:
    """Preference rows from the judge material: the better answer (chosen) over the other."""
    pairs = load_material(constitution, "judge").items
    rows = []
    for p in pairs:
        if not isinstance(p, JudgePair) or (split is not None and p.split != split):
            continue
        good, bad = (p.a, p.b) if p.better == "a" else (p.b, p.a)
        rows.append({"prompt": _user(p.prompt), "chosen": _assistant(good), "rejected": _assistant(bad),
                     "probability": 1.0, "source": "material", "principle": p.principle})
    return rows


def material_dataset(constitution: Constitution, kind: Literal["sft", "preference"], family: str = "revision",
                     heldout_family: str | None = None) -> Any:
    """A DatasetDict (train, test) in TRL's conversational format; SFT rows are prompt + revision."""
    from datasets import Dataset, DatasetDict

    build = {"revision": revision_rows, "judge": judge_rows}
    if heldout_family is None:
        train, test = build[family](constitution, "train"), build[family](constitution, "heldout")
    else:
        train, test = build[family](constitution), build[heldout_family](constitution)
    if kind == "sft":
        train = [{"messages": r["prompt"] + r["chosen"]} for r in train]
        test = [{"messages": r["prompt"] + r["chosen"]} for r in test]
    return DatasetDict({"train": Dataset.from_list(train), "test": Dataset.from_list(test)})
