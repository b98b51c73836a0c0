"""Records the review service hands out and takes in: reviewers, decisions, item views, stats.

Everything is a plain pydantic model, so the CLI prints it, the web page renders it and
`--json` dumps it (`model_dump(mode="json")`) without touching the database again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["reviewer", "admin"]
ItemStatus = Literal["pending", "admin", "decided", "applied"]
Action = Literal["accept", "choose", "edit", "refuse", "revise", "unsure"]
ACTIONS: tuple[str, ...] = ("accept", "choose", "edit", "refuse", "revise", "unsure")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reviewer(_Model):
    """A person signed in to the queue (never carries the token or its hash)."""

    id: int
    name: str
    role: Role
    opted_out: list[str] = Field(default_factory=list, description="categories this person does not review")
    active: bool = True
    created_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class DecisionInput(_Model):
    """What a reviewer submits for an item; `review.decisions.check` validates it against the item.

    accept: the graph's proposal; choose: `candidate`; edit: `text` becomes the answer; refuse:
    the spec's refusal (or `text` as the reviewer's reference refusal); revise: back to the
    model with `note` as the critique; unsure: hand the item to an admin. `ranking` lists
    candidate indices best first; `violations` maps a candidate index to the principle ids it
    violates; `note` is free text, always allowed.
    """

    action: Action
    candidate: int | None = None
    text: str | None = None
    ranking: list[int] | None = None
    violations: dict[int, list[str]] = Field(default_factory=dict)
    note: str = ""


class PrincipleInfo(_Model):
    """A principle involved in an item, with the short rubric shown beside the decision form."""

    id: str
    category: str
    priority: int
    text: str
    rubric: str


class DecisionView(_Model):
    """One person's recorded decision (shown to admins, and to its own author)."""

    reviewer: str
    role: str
    decision: dict[str, Any]
    decided_at: datetime
    seconds: float | None = None


class ItemSummary(_Model):
    """One row of the queue list."""

    id: int
    thread_id: str
    round: int
    run_id: str
    prompt_id: str
    status: ItemStatus
    priority: int
    category: str | None
    categories: list[str]
    reason_kinds: list[str]
    reasons: list[str]
    prompt: str
    created_at: datetime
    age_s: float
    deadline_at: datetime | None
    claimed_by: str | None
    lease_expires_at: datetime | None
    timed_out: bool
    reviews_needed: int
    reviews_done: int


class ItemView(ItemSummary):
    """Everything a reviewer needs to decide: internal reasoning included (reviewers only)."""

    candidates: list[dict[str, Any]]
    safety: dict[str, Any] | None
    judgments: list[dict[str, Any]]
    notices: list[str]
    proposal: int | None
    principles: list[PrincipleInfo]
    constitution_version: str | None
    constitution_hash: str | None
    decision: dict[str, Any] | None
    """The final decision once recorded (what is applied to the graph)."""
    decisions: list[DecisionView]
    """Per-person decisions visible to the viewer (own always; others only for admins)."""
    apply_error: str | None = None


class ApplyOutcome(_Model):
    """What applying one decided item did."""

    item_id: int
    thread_id: str
    ok: bool
    status: str
    final_response: str | None = None
    human_pairs: int = 0
    error: str | None = None


class AuditRecord(_Model):
    id: int
    at: datetime
    actor: str
    action: str
    item_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str


class ReviewerRate(_Model):
    """One reviewer in the stats window: decisions, those in the last hour, pace, median time."""

    reviewer: str
    decisions: int
    last_hour: int = 0
    per_hour: float = Field(description="decisions per hour spent on items (claim to decision)")
    median_seconds: float | None


class ReasonOverturn(_Model):
    reason: str
    decided: int
    overturned: int
    rate: float | None


class QueueStats(_Model):
    """Queue depth and age, throughput, agreement, and overturn rates per escalation reason."""

    by_status: dict[str, int]
    by_category: dict[str, int]
    pending: int
    claimed: int
    oldest_pending_age_s: float | None
    median_pending_age_s: float | None
    timed_out: int
    window_h: float
    decisions_in_window: int
    reviewers: list[ReviewerRate]
    median_seconds_per_item: float | None
    double_reviewed: int
    agreement_rate: float | None
    kappa_choice: float | None
    kappa_principles: dict[str, float | None]
    overturned: list[ReasonOverturn]
