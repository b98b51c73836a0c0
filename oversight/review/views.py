"""What a reviewer sees of an item: summary rows, the full view, principles with a rubric.

Items arrive from the graph with the principles involved but without categories
(the store does not read constitutions), so `intake` fills category and categories
once per item from the run's constitution; filters, opt-outs and deadlines use them.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from oversight.constitution import Constitution, Principle, load_constitution
from oversight.errors import OversightError
from oversight.review.config import ReviewConfig
from oversight.review.models import DecisionView, ItemSummary, ItemView, PrincipleInfo
from oversight.store import Store, get_run
from oversight.store.records import ReviewRecord
from oversight.store.review_reads import DecisionRecord, item_decisions, set_categories, uncategorised
from oversight.store.tables import utcnow

# Escalation sentences (graph/routing.py) -> a short kind, for filters and overturn rates.
REASON_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("judge-unsure", re.compile(r"judge is unsure")),
    ("safety-critic-disagree", re.compile(r"but the critic finds|but the safety model rates the answer safe")),
    ("harmful-answer-kept", re.compile(r"would keep the original answer")),
    ("priority-conflict", re.compile(r"but worsens the higher-priority")),
    ("always-human", re.compile(r"always sends to a human")),
)
GENERAL = "general"


def reason_kind(sentence: str) -> str:
    for kind, pattern in REASON_KINDS:
        if pattern.search(sentence):
            return kind
    return "other"


def rubric(principle: Principle) -> str:
    """Two or three lines a reviewer can hold a candidate against."""
    lines = [f"Check: {principle.critique_request}", f"A good answer: {principle.revision_request}"]
    if principle.applies_when:
        lines.append(f"Applies to: {principle.applies_when}")
    return "\n".join(lines)


def principle_info(principle: Principle) -> PrincipleInfo:
    return PrincipleInfo(id=principle.id, category=principle.category, priority=principle.priority,
                         text=principle.text, rubric=rubric(principle))


@lru_cache(maxsize=32)
def _constitution(name: str, project_dir: Path) -> Constitution:
    return load_constitution(name, project_dir)


def constitution_for(store: Store, item: ReviewRecord, project_dir: Path) -> Constitution | None:
    """The constitution the item's run used, or None when it cannot be found any more."""
    run = get_run(store, item.run_id)
    return None if run is None else constitution_named(run.constitution_name, project_dir)


def constitution_named(name: str | None, project_dir: Path) -> Constitution | None:
    """A run's constitution by name (loaded once per process), or None when there is none any more."""
    if name is None:
        return None
    try:
        return _constitution(name, project_dir)
    except OversightError:
        return None


def categories_of(item: ReviewRecord, constitution: Constitution | None) -> list[str]:
    """Safety's category when it rated the prompt harmful, then the principles' categories by priority."""
    found: dict[str, None] = {}
    safety = item.payload_json.get("safety") or {}
    if safety.get("top_category") and (safety.get("harmful_prob") or 0) >= 0.5:
        found[str(safety["top_category"])] = None
    if constitution is not None:
        known = {p.id: p for p in constitution.principles}
        for p in sorted((known[i] for i in item.principles_json if i in known), key=lambda p: p.priority):
            found.setdefault(p.category, None)
    return list(found)


def intake(store: Store, project_dir: Path) -> int:
    """Fill category/categories of items that arrived without; returns how many."""
    rows = uncategorised(store)
    for item in rows:
        cats = item.categories_json or categories_of(item, constitution_for(store, item, project_dir))
        set_categories(store, item.id, cats, GENERAL)
    return len(rows)


def summary(item: ReviewRecord, config: ReviewConfig, done: int, now: datetime | None = None) -> ItemSummary:
    now = now or utcnow()
    created = item.created_at or now
    return ItemSummary(
        id=item.id, thread_id=item.thread_id, round=item.round, run_id=item.run_id,
        prompt_id=item.prompt_id, status=item.status, priority=item.priority, category=item.category,
        categories=list(item.categories_json), reason_kinds=sorted({reason_kind(r) for r in item.reasons_json}),
        reasons=list(item.reasons_json), prompt=str(item.payload_json.get("prompt", "")),
        created_at=created, age_s=(now - created).total_seconds(),
        deadline_at=None if item.status in ("decided", "applied") else created + config.deadline(item.category),
        claimed_by=item.claimed_by if item.lease_expires_at and item.lease_expires_at > now else None,
        lease_expires_at=item.lease_expires_at if item.claimed_by else None, timed_out=item.timed_out,
        reviews_needed=config.reviews_needed(item.thread_id, item.round), reviews_done=done)


def full_view(store: Store, item: ReviewRecord, config: ReviewConfig, project_dir: Path,
              viewer: str, viewer_is_admin: bool) -> ItemView:
    """The item with its internal reasoning; other people's decisions only for admins."""
    return build_view(item, item_decisions(store, item.id), constitution_for(store, item, project_dir), config,
                      viewer, viewer_is_admin)


def build_view(item: ReviewRecord, rows: list[DecisionRecord], constitution: Constitution | None,
               config: ReviewConfig, viewer: str, viewer_is_admin: bool) -> ItemView:
    """`full_view` from what the caller already holds (a claim returns the decisions and constitution)."""
    decisions = [DecisionView(reviewer=d.reviewer, role=d.role, decision=d.decision_json,
                              decided_at=d.decided_at, seconds=d.seconds)
                 for d in rows if viewer_is_admin or d.reviewer == viewer]
    done = sum(1 for d in rows if d.role == "reviewer")
    principles: list[PrincipleInfo] = []
    if constitution is not None:
        known = {p.id: p for p in constitution.principles}
        principles = [principle_info(known[i]) for i in item.principles_json if i in known]
    payload: dict[str, Any] = item.payload_json
    final_visible = viewer_is_admin or item.status in ("decided", "applied")
    return ItemView(
        **summary(item, config, done).model_dump(),
        candidates=list(payload.get("candidates") or []), safety=payload.get("safety"),
        judgments=list(payload.get("judgments") or []), notices=list(payload.get("notices") or []),
        proposal=payload.get("proposal"), principles=principles,
        constitution_version=item.constitution_version, constitution_hash=item.constitution_hash,
        decision=item.decision_json if final_visible else None, decisions=decisions,
        apply_error=item.apply_error)
