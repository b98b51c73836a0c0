"""Training exports: the store's resolved trajectories as Hugging Face datasets in TRL's conversational formats.

An export folder holds `sft/`, `preference/` and `reward/` (each a DatasetDict with
"train" and "test" splits, written by `save_to_disk`, or JSONL files a split)
and `manifest.json`: the export id (a hash of every row), the filters, counts by
split and source, the constitution hashes and reviewers the data came from, and
each row's hash. That manifest is the dataset snapshot a trained version records.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from oversight.errors import OversightError
from oversight.store.db import Store
from oversight.store.registry import require_version
from oversight.store.training_rows import loose_pairs, resolved_trajectories
from oversight.train.export_config import ExportOptions
from oversight.train.export_rows import preference_rows, reward_rows, row_hash, sft_rows
from oversight.train.split import HELDOUT, TRAIN

KINDS = ("sft", "preference", "reward")
MANIFEST = "manifest.json"
_MESSAGES = [{"role": "string", "content": "string"}]
_COMMON = {"source": "string", "weight": "float64", "reviewer": "string", "constitution_hash": "string",
           "trajectory_id": "int64"}
_PAIR = {"prompt": _MESSAGES, "chosen": _MESSAGES, "rejected": _MESSAGES, "probability": "float64",
         "principle": "string", **_COMMON}
COLUMNS: dict[str, dict[str, Any]] = {
    "sft": {"messages": _MESSAGES, "route": "string", **_COMMON},
    "preference": _PAIR,
    "reward": {**_PAIR, "margin": "float64"},
}


@dataclass
class ExportResult:
    """Where an export went and what the registry keeps of it."""

    out: Path
    manifest: dict[str, Any]

    @property
    def export_id(self) -> str:
        return str(self.manifest["export_id"])

    def snapshot(self) -> dict[str, Any]:
        """The dataset snapshot a version records: everything of the manifest but the filters' noise."""
        return {k: self.manifest[k] for k in ("export_id", "created_at", "data_until", "counts", "by_source",
                                              "constitution_hashes", "reviewers", "row_hashes", "filters")}

    def summary(self) -> str:
        counts = self.manifest["counts"]
        parts = [f"{kind} {counts[kind][TRAIN]}+{counts[kind][HELDOUT]}" for kind in KINDS]
        return f"export {self.export_id}: {', '.join(parts)} rows (train+test) -> {self.out}"


def export_datasets(store: Store, out: Path, opts: ExportOptions | None = None) -> ExportResult:
    """Select, build and write the three datasets; an empty selection is a one-line error."""
    opts = opts or ExportOptions()
    until = opts.until or datetime.now(timezone.utc)
    since = opts.since if opts.since_version is None else _version_cutoff(store, opts.since_version)
    items = resolved_trajectories(store, since=since, until=until, constitution_hash=opts.constitution_hash,
                                  route=opts.route)
    loose = [] if opts.route else loose_pairs(store, since=since, until=until,
                                              constitution_hash=opts.constitution_hash)
    sft = sft_rows(items, opts)
    preference = preference_rows(items, loose, opts)
    rows = {"sft": sft, "preference": preference, "reward": reward_rows(preference)}
    if not sft and not preference:
        raise OversightError(f"nothing to export: no resolved trajectories of production or datagen runs match "
                             f"({_describe(opts, since)})")
    manifest = _manifest(rows, opts, since, until)
    _write(Path(out), rows, manifest, opts.format)
    return ExportResult(Path(out), manifest)


def _version_cutoff(store: Store, version_id: int) -> datetime:
    version = require_version(store, version_id)
    until = version.dataset_json.get("data_until")
    return datetime.fromisoformat(until) if until else version.created_at or datetime.now(timezone.utc)


def _describe(opts: ExportOptions, since: datetime | None) -> str:
    parts = [f"since {since:%Y-%m-%d %H:%M:%S} UTC" if since else "any time"]
    for name in ("source", "constitution_hash", "route"):
        value = getattr(opts, name)
        if value:
            parts.append(f"{name} {value}")
    parts.append(f"AI pairs with probability >= {opts.min_confidence}")
    return ", ".join(parts)


def _manifest(rows: dict[str, list[dict[str, Any]]], opts: ExportOptions, since: datetime | None,
              until: datetime) -> dict[str, Any]:
    hashes = {kind: sorted(row_hash(r) for r in kind_rows) for kind, kind_rows in rows.items()}
    export_id = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:16]
    every = [r for kind in ("sft", "preference") for r in rows[kind]]
    return {
        "export_id": export_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "since": since.isoformat() if since else None,
        "data_until": until.isoformat(),
        "filters": opts.model_dump(mode="json", exclude={"since", "until"}),
        "counts": {kind: {TRAIN: sum(r["split"] == TRAIN for r in kind_rows),
                          HELDOUT: sum(r["split"] == HELDOUT for r in kind_rows)}
                   for kind, kind_rows in rows.items()},
        "by_source": {kind: {s: sum(r["source"] == s for r in rows[kind]) for s in ("ai", "human")}
                      for kind in KINDS},
        "constitution_hashes": sorted({r["constitution_hash"] for r in every if r["constitution_hash"]}),
        "reviewers": sorted({r["reviewer"] for r in every if r["reviewer"]}),
        "row_hashes": hashes,
    }


def _write(out: Path, rows: dict[str, list[dict[str, Any]]], manifest: dict[str, Any], fmt: str) -> None:
    """Write into a fresh sibling folder, then swap it in: a crash never leaves half an export."""
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise OversightError(f"{out} is not empty and holds no earlier export; choose an empty or new folder")
    tmp = out.with_name(f".{out.name}.writing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for kind, kind_rows in rows.items():
        splits = {name: [_columns(kind, r) for r in kind_rows if r["split"] == name] for name in (TRAIN, HELDOUT)}
        folder = tmp / kind
        if fmt == "jsonl":
            folder.mkdir()
            for name, split_rows in splits.items():
                with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as fh:
                    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in split_rows)
        else:
            from datasets.utils.logging import disable_progress_bar

            disable_progress_bar()
            # one shard a split: datasets writes an empty split as zero shards, which it cannot load back
            _dataset_dict(kind, splits).save_to_disk(str(folder), num_shards={name: 1 for name in splits})
        kind_manifest = {"export_id": manifest["export_id"], "kind": kind, "row_hashes": manifest["row_hashes"][kind]}
        (folder / MANIFEST).write_text(json.dumps(kind_manifest, indent=1), encoding="utf-8")
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out)


def _columns(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in COLUMNS[kind]}


def _dataset_dict(kind: str, splits: dict[str, list[dict[str, Any]]]) -> Any:
    from datasets import Dataset, DatasetDict, Features, Value

    def feature(spec: Any) -> Any:
        if isinstance(spec, list):
            return [{k: Value(v) for k, v in spec[0].items()}]
        return Value(spec)

    features = Features({name: feature(spec) for name, spec in COLUMNS[kind].items()})
    # from_dict, not from_list: an empty split must still carry its columns
    return DatasetDict({name: Dataset.from_dict({c: [r[c] for r in split_rows] for c in COLUMNS[kind]},
                                                features=features) for name, split_rows in splits.items()})


def heldout_rows(out: Path, limit: int | None = None) -> list[dict[str, str]]:
    """The held-out ("test") SFT rows of an export as {prompt, response, route}: what the gate measures too."""
    found = [{"prompt": _user_text(r["messages"]),
              "response": next(m["content"] for m in reversed(r["messages"]) if m["role"] == "assistant"),
              "route": r["route"]} for r in _heldout_split(Path(out) / "sft")]
    return found[:limit] if limit is not None else found


def heldout_pairs(out: Path, limit: int | None = None) -> list[dict[str, str]]:
    """The held-out preference pairs of an export as {prompt, chosen, rejected, source}, highest weight first.

    Their prompts share no split with training (a stable hash of the prompt), so no candidate trained on them.
    """
    rows = sorted(_heldout_split(Path(out) / "preference"), key=lambda r: -float(r.get("weight") or 0.0))
    found = [{"prompt": _user_text(r["prompt"]), "chosen": r["chosen"][-1]["content"],
              "rejected": r["rejected"][-1]["content"], "source": r["source"]} for r in rows]
    return found[:limit] if limit is not None else found


def _heldout_split(folder: Path) -> list[dict[str, Any]]:
    if (folder / f"{HELDOUT}.jsonl").is_file():
        with open(folder / f"{HELDOUT}.jsonl", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    from datasets import load_from_disk

    return list(load_from_disk(str(folder))[HELDOUT])


def _user_text(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")
