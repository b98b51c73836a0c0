"""Datasets for base-model training: read an export, check its columns, snapshot it for provenance.

Exports (oversight/train/export.py) are Hugging Face datasets in TRL's
conversational formats: SFT rows `{"messages": [...]}`, preference and reward
rows `{"prompt": [...], "chosen": [...], "rejected": [...], "probability", ...}`.
Rows are given the base role's system prompt when they have none, so training
sees the chats serving sends.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oversight.errors import OversightError

COLUMNS = {"sft": ("messages",), "dpo": ("prompt", "chosen", "rejected"), "reward": ("prompt", "chosen", "rejected")}
SUBFOLDERS = {"sft": ("sft",), "dpo": ("preference", "preferences", "dpo"), "reward": ("reward", "preference")}
EVAL_SPLITS = ("test", "heldout", "eval", "validation")
MANIFESTS = ("manifest.json", "export.json")


@dataclass
class BaseData:
    """Training and held-out rows (plain dicts) plus what the registry records about them."""

    train: list[dict[str, Any]]
    heldout: list[dict[str, Any]]
    snapshot: dict[str, Any] = field(default_factory=dict)
    row_hashes: list[str] = field(default_factory=list)


def row_hash(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_base_data(dataset: Any, algo: str, *, system_prompt: str | None, min_probability: float = 0.0,
                   max_rows: int | None = None, seed: int = 0) -> BaseData:
    """Rows for `algo` from a folder, a JSONL file, a Dataset or a DatasetDict; refuses empty sets."""
    from datasets import Dataset, DatasetDict

    label, manifest = "an in-memory dataset", {}
    if isinstance(dataset, str | Path):
        label = str(dataset)
        dataset, manifest = _read(Path(dataset), algo)
    if isinstance(dataset, Dataset):
        dataset = DatasetDict({"train": dataset})
    if not isinstance(dataset, DatasetDict):
        raise OversightError(f"dataset must be a folder, a .jsonl file or a datasets.DatasetDict "
                             f"(received {type(dataset).__name__})")
    if "train" not in dataset:
        raise OversightError(f"dataset {label} has no 'train' split (splits: {', '.join(dataset) or 'none'})")
    heldout_name = next((s for s in EVAL_SPLITS if s in dataset), None)
    train = _rows(dataset["train"], algo, label, system_prompt, min_probability)
    heldout = _rows(dataset[heldout_name], algo, label, system_prompt, min_probability) if heldout_name else []
    if not train:
        raise OversightError(f"dataset {label} has no {algo} training rows"
                             + (f" with probability >= {min_probability}" if algo != "sft" else ""))
    if max_rows is not None and len(train) > max_rows:
        train = random.Random(seed).sample(train, max_rows)
    hashes = [row_hash(r) for r in train]
    snapshot = {"source": label, "export_id": manifest.get("export_id") or manifest.get("id"),
                "train_rows": len(train), "heldout_rows": len(heldout),
                "rows_sha256": hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()[:16],
                "by_source": _count(train, "source")}
    for key in ("created_at", "by_source", "constitution_hashes", "reviewers", "counts"):
        if key in manifest:
            snapshot[f"export_{key}" if key == "by_source" else key] = manifest[key]
    return BaseData(train, heldout, snapshot, hashes)


def _read(path: Path, algo: str) -> tuple[Any, dict[str, Any]]:
    from datasets import load_dataset, load_from_disk

    if not path.exists():
        raise OversightError(f"dataset {path} does not exist")
    if path.is_file():
        if path.suffix not in {".jsonl", ".json"}:
            raise OversightError(f"dataset file {path} must be .jsonl (or a datasets folder)")
        if path.stat().st_size == 0:
            raise OversightError(f"dataset {path} is empty")
        return load_dataset("json", data_files={"train": str(path)}), {}
    folder = next((path / s for s in SUBFOLDERS[algo] if (path / s).is_dir()), path)
    manifest: dict[str, Any] = {}
    for where in (folder, path):
        for name in MANIFESTS:
            if (where / name).is_file() and not manifest:
                manifest = json.loads((where / name).read_text(encoding="utf-8"))
    jsonl = {f.stem: str(f) for f in sorted(folder.glob("*.jsonl")) if f.stat().st_size > 0}
    if "train" in jsonl and not (folder / "dataset_dict.json").exists():
        return load_dataset("json", data_files=jsonl), manifest
    if not any((folder / n).exists() for n in ("dataset_dict.json", "dataset_info.json", "state.json")):
        raise OversightError(f"{folder} is not a saved Hugging Face dataset (no dataset_dict.json)")
    return load_from_disk(str(folder)), manifest


def _rows(split: Any, algo: str, label: str, system_prompt: str | None, min_probability: float
          ) -> list[dict[str, Any]]:
    if split.num_rows == 0:
        return []
    names = set(split.column_names)
    missing = [c for c in COLUMNS[algo] if c not in names]
    if missing:
        raise OversightError(f"dataset {label} lacks column(s) {', '.join(missing)} for {algo} "
                             f"(columns: {', '.join(sorted(names))})")
    rows: list[dict[str, Any]] = []
    for row in split:
        if algo == "sft":
            rows.append({"messages": _with_system(row["messages"], system_prompt), "weight": row.get("weight")})
            continue
        probability = row.get("probability")
        if probability is not None and probability < min_probability:
            continue
        rows.append({"prompt": _with_system(row["prompt"], system_prompt), "chosen": row["chosen"],
                     "rejected": row["rejected"], "probability": probability, "source": row.get("source")})
    return rows


def _with_system(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    if system_prompt and (not messages or messages[0]["role"] != "system"):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def _count(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows:
        value = str(row.get(key) or "unknown")
        out[value] = out.get(value, 0) + 1
    return out


def mean_probability(rows: list[dict[str, Any]]) -> float | None:
    values = [r["probability"] for r in rows if r.get("probability") is not None]
    return sum(values) / len(values) if values else None
