"""Rows of a training export, built from resolved trajectories: SFT targets, preference and reward pairs.

Rules the trainer relies on:
- SFT targets are final responses of resolved trajectories; error routes and
  answers cut at the token limit are left out (the model would learn to stop mid-sentence).
- Human pairs outrank AI pairs: they weigh more, and a human decision on a prompt
  replaces every AI pair (and AI target) of that prompt.
- AI pairs below the confidence floor are left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from oversight.store.records import PreferenceRecord, TrajectoryRecord
from oversight.store.training_rows import ResolvedTrajectory
from oversight.train.export_config import ExportOptions
from oversight.train.split import normalise_prompt, scrub, split_of

CUT_NOTICE = "answer cut at the"


def row_hash(row: dict[str, Any]) -> str:
    """Content hash of one exported row (every column), as recorded in the manifest."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _decided_by_human(t: TrajectoryRecord) -> bool:
    return bool(t.extra_json.get("human")) or any(p.source == "human" for p in t.preference_pairs)


def _cut(t: TrajectoryRecord) -> bool:
    """The final response is the base answer and that answer hit the token limit."""
    cut = any(CUT_NOTICE in n for n in t.notices_json)
    base = next((c.text for c in t.candidates if c.index == 0), None)
    return cut and (base is None or base == t.final_response)


def sft_rows(items: Iterable[ResolvedTrajectory], opts: ExportOptions) -> list[dict[str, Any]]:
    """One row per prompt: its latest final response (a human-decided one wins over AI ones)."""
    clean = _cleaner(opts)
    best: dict[str, dict[str, Any]] = {}
    for item in items:
        t = item.trajectory
        if t.route == "error" or not (t.final_response or "").strip() or _cut(t):
            continue
        human = _decided_by_human(t)
        source = "human" if human else "ai"
        if opts.source is not None and source != opts.source:
            continue
        key = normalise_prompt(t.prompt)
        old = best.get(key)
        if old is not None and old["source"] == "human" and not human:
            continue
        best[key] = {"messages": _user(clean(t.prompt)) + _assistant(clean(t.final_response or "")),
                     "split": split_of(t.prompt, opts.heldout_fraction), "source": source,
                     "weight": opts.human_weight if human else 1.0, "route": t.route,
                     "reviewer": item.reviewer or "", "constitution_hash": item.constitution_hash,
                     "trajectory_id": t.id or 0}
    return list(best.values())


def preference_rows(items: Iterable[ResolvedTrajectory], loose: Iterable[PreferenceRecord],
                    opts: ExportOptions) -> list[dict[str, Any]]:
    """Preference pairs in TRL's conversational form, human ones replacing AI ones per prompt."""
    clean = _cleaner(opts)
    found: list[tuple[PreferenceRecord, ResolvedTrajectory | None]] = []
    for item in items:
        if item.trajectory.route != "error":
            found += [(pair, item) for pair in item.trajectory.preference_pairs]
    found += [(pair, None) for pair in loose]
    human_prompts = {normalise_prompt(p.prompt) for p, _i in found if p.source == "human"}
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for pair, item in found:
        key = normalise_prompt(pair.prompt)
        if pair.source == "ai" and (key in human_prompts or pair.probability < opts.min_confidence):
            continue
        if opts.source is not None and pair.source != opts.source:
            continue
        weight = opts.human_weight if pair.source == "human" else pair.probability
        row = {"prompt": _user(clean(pair.prompt)), "chosen": _assistant(clean(pair.chosen)),
               "rejected": _assistant(clean(pair.rejected)), "probability": pair.probability,
               "source": pair.source, "principle": _principle(pair, item),
               "reviewer": pair.reviewer or (item.reviewer if item and pair.source == "human" else None) or "",
               "weight": weight,
               "split": split_of(pair.prompt, opts.heldout_fraction),
               "constitution_hash": pair.constitution_hash,
               "trajectory_id": pair.trajectory_id or 0}
        dedup = (key, pair.chosen, pair.rejected)
        if dedup not in rows or rows[dedup]["weight"] < weight:
            rows[dedup] = row
    return list(rows.values())


def reward_rows(preferences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reward-model pairs: the preference pairs plus a margin (0 for a coin flip, 1 for a sure human choice)."""
    return [{**row, "margin": round(2 * row["probability"] - 1, 4)} for row in preferences]


def _principle(pair: PreferenceRecord, item: ResolvedTrajectory | None) -> str:
    """The principles involved, comma-separated: the pair's own, the reviewer's marks, else the critic's
    verdicts on the rejected answer."""
    if pair.principle_id:
        return pair.principle_id
    if pair.principles_json:
        return ",".join(sorted(pair.principles_json))
    for cand in item.trajectory.candidates if item else []:
        if cand.text == pair.rejected:
            return ",".join(sorted({c.principle_id for c in cand.critiques if c.violated}))
    return ""


def _cleaner(opts: ExportOptions) -> Callable[[str], str]:
    return scrub if opts.scrub else (lambda text: text)
