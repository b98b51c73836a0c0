"""Queue settings, declared in queues/NAME.yaml: lease length, deadlines per category, double review."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from oversight.declared import load_model, resolve_declared


class ReviewConfig(BaseModel):
    """How the queue hands out work; validated in one place, every field documented."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lease_minutes: float = Field(default=15, gt=0, le=24 * 60,
                                 description="how long a claim lasts before the item returns to the queue")
    default_deadline_hours: float = Field(
        default=72, gt=0, description="an item undecided this long after escalation gets the spec's refusal")
    deadline_hours: dict[str, float] = Field(
        default_factory=dict, description="deadline per category (overrides the default)")
    double_review_fraction: float = Field(
        default=0.0, ge=0, le=1, description="share of items decided independently by two reviewers")

    @property
    def lease(self) -> timedelta:
        return timedelta(minutes=self.lease_minutes)

    def deadline(self, category: str | None) -> timedelta:
        hours = self.deadline_hours.get(category or "", self.default_deadline_hours)
        return timedelta(hours=hours)

    @property
    def shortest_deadline(self) -> timedelta:
        return timedelta(hours=min([self.default_deadline_hours, *self.deadline_hours.values()]))

    def reviews_needed(self, thread_id: str, round_: int) -> int:
        """2 for a stable, hash-chosen share of items (the same answer in every process), else 1."""
        if self.double_review_fraction <= 0:
            return 1
        digest = hashlib.sha256(f"{thread_id}#{round_}".encode()).digest()
        return 2 if int.from_bytes(digest[:4], "big") / 2**32 < self.double_review_fraction else 1


def load_review_config(name_or_path: str | Path, project_dir: Path) -> ReviewConfig:
    """queues/NAME.yaml (or a path) as a ReviewConfig; ConfigError names the bad key."""
    return load_model(ReviewConfig, resolve_declared("queues", name_or_path, project_dir))
