"""Plain pydantic records that cross the store's boundary.

Callers build these and get them back; ORM objects never leave a session, so
a record stays usable after its transaction ends and in other threads. JSON
columns keep their table names (`safety_json`...); the short names
(`safety`...) are accepted too when building a record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from oversight.verdicts import RouteName as Route

TrajectoryStatus = Literal["pending_review", "done"]
CandidateSource = Literal["base", "reviser", "human"]
PairSource = Literal["ai", "human"]
ReviewStatus = Literal["pending", "admin", "decided", "applied"]
VersionKind = Literal["adapter", "head"]
VersionStatus = Literal["candidate", "active", "retired"]


def _json(name: str, short: str, default: Any) -> Any:
    return Field(default_factory=default, validation_alias=AliasChoices(name, short))


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class CritiqueRecord(_Record):
    principle_id: str
    violation_prob: float
    violated: bool
    text: str | None = None


class CandidateRecord(_Record):
    index: int
    text: str
    source: CandidateSource = "base"
    round: int = 0
    critiques: list[CritiqueRecord] = Field(default_factory=list)


class JudgmentRecord(_Record):
    a_index: int
    b_index: int
    prob_b_better: float
    principle_id: str | None = None
    prob_b_better_swapped: float | None = None
    explanation: str | None = None


class PreferenceRecord(_Record):
    prompt: str
    chosen: str
    rejected: str
    probability: float = Field(ge=0.0, le=1.0)
    source: PairSource
    constitution_hash: str
    principle_id: str | None = None
    # Filled in by the store when read back.
    id: int | None = None
    trajectory_id: int | None = None
    created_at: datetime | None = None
    used_in_version_id: int | None = None
    # Human pairs: who decided, seconds taken, principles marked on the rejected answer.
    reviewer: str | None = None
    review_seconds: float | None = None
    principles_json: list[str] | None = Field(
        default=None, validation_alias=AliasChoices("principles_json", "principles"))


class TrajectoryRecord(_Record):
    run_id: str
    prompt_id: str
    prompt: str
    route: Route
    route_reason: str = ""
    status: TrajectoryStatus = "done"
    final_response: str | None = None
    safety_json: dict[str, Any] = _json("safety_json", "safety", dict)
    notices_json: list[str] = _json("notices_json", "notices", list)
    extra_json: dict[str, Any] = _json("extra_json", "extra", dict)
    candidates: list[CandidateRecord] = Field(default_factory=list)
    judgments: list[JudgmentRecord] = Field(default_factory=list)
    preference_pairs: list[PreferenceRecord] = Field(default_factory=list)
    # Filled in by the store when read back.
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class RunRecord(_Record):
    id: str
    graph_name: str
    graph_hash: str
    constitution_name: str
    constitution_hash: str
    roles_json: dict[str, Any] = _json("roles_json", "roles", dict)
    status: str = "running"
    kind: str = "production"
    created_at: datetime | None = None


class VersionRecord(_Record):
    id: int
    role: str
    kind: VersionKind
    path: str
    base_model: str
    constitution_hash: str | None = None
    metrics_json: dict[str, Any] = _json("metrics_json", "metrics", dict)
    status: VersionStatus = "candidate"
    created_at: datetime | None = None
    notes: str | None = None
    parent_id: int | None = None
    algorithm: str | None = None
    recipe_json: dict[str, Any] = _json("recipe_json", "recipe", dict)
    dataset_json: dict[str, Any] = _json("dataset_json", "dataset", dict)
    started_from: str | None = None
    gate_json: dict[str, Any] | None = Field(default=None, validation_alias=AliasChoices("gate_json", "gate"))
    activated_at: datetime | None = None
    previous_id: int | None = None

    @property
    def active(self) -> bool:
        """The role runs this version (kept for callers from before statuses)."""
        return self.status == "active"


class ReviewRecord(_Record):
    id: int
    thread_id: str
    run_id: str
    prompt_id: str
    reason: str
    reasons_json: list[str] = _json("reasons_json", "reasons", list)
    payload_json: dict[str, Any] = _json("payload_json", "payload", dict)
    status: ReviewStatus = "pending"
    trajectory_id: int | None = None
    decision_json: dict[str, Any] | None = Field(
        default=None, validation_alias=AliasChoices("decision_json", "decision"))
    reviewer: str | None = None
    created_at: datetime | None = None
    decided_at: datetime | None = None
    # Queue metadata (revision 0003_review).
    round: int = 0
    priority: int = 0
    category: str | None = None
    categories_json: list[str] = _json("categories_json", "categories", list)
    principles_json: list[str] = _json("principles_json", "principles", list)
    constitution_version: str | None = None
    constitution_hash: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    lease_expires_at: datetime | None = None
    timed_out: bool = False
    applied_at: datetime | None = None
    apply_error: str | None = None
