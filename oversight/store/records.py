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

Route = Literal["accepted", "revised", "escalated", "refused", "blocked", "error"]
TrajectoryStatus = Literal["pending_review", "done"]
CandidateSource = Literal["base", "reviser", "human"]
PairSource = Literal["ai", "human"]
ReviewStatus = Literal["pending", "decided", "applied"]
VersionKind = Literal["adapter", "head"]


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
    created_at: datetime | None = None


class VersionRecord(_Record):
    id: int
    role: str
    kind: VersionKind
    path: str
    base_model: str
    constitution_hash: str | None = None
    metrics_json: dict[str, Any] = _json("metrics_json", "metrics", dict)
    active: bool = False
    created_at: datetime | None = None
    notes: str | None = None
    parent_id: int | None = None


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
