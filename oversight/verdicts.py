"""Small verdicts the oversight roles return: probabilities first, labels derived.

Every decision downstream (revise, escalate, refuse) reads these, so each
carries calibrated probabilities, not only a label.
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

from pydantic import BaseModel, Field

from oversight.constitution import Principle

# What happened to a prompt: the one list of route names (graph state, stored trajectories, reports).
RouteName = Literal["accepted", "revised", "escalated", "refused", "blocked", "error"]
ROUTES: tuple[RouteName, ...] = get_args(RouteName)


class SafetyVerdict(BaseModel):
    """The safety model's view of a prompt (and, when given, the response to it)."""

    harmful_prob: float = Field(ge=0, le=1, description="the request asks for something the constitution forbids")
    jailbreak_prob: float = Field(ge=0, le=1, description="the request tries to override the rules")
    response_harmful_prob: float | None = Field(default=None, ge=0, le=1)
    category_probs: dict[str, float] = Field(default_factory=dict, description="harm category, given harmful")
    attack_probs: dict[str, float] = Field(default_factory=dict, description="attack type, given jailbreak")

    @property
    def top_category(self) -> str | None:
        return max(self.category_probs, key=self.category_probs.__getitem__) if self.category_probs else None

    @property
    def top_attack(self) -> str | None:
        return max(self.attack_probs, key=self.attack_probs.__getitem__) if self.attack_probs else None


class PrincipleVerdict(BaseModel):
    """The critic's verdict on one principle for one response."""

    principle_id: str
    violation_prob: float = Field(ge=0, le=1)
    critique: str | None = None

    @property
    def decision(self) -> Literal["violated", "ok"]:
        return "violated" if self.violation_prob >= 0.5 else "ok"


class JudgeVerdict(BaseModel):
    """The judge's pairwise preference under one principle, both orders averaged."""

    principle_id: str
    prob_b_better: float = Field(ge=0, le=1, description="mean of the A/B and the swapped B/A order")
    prob_b_better_ab: float = Field(ge=0, le=1)
    prob_b_better_ba: float = Field(ge=0, le=1)


class OversightRoles(Protocol):
    """What the graph asks of the roles; the real one runs models, tests may script it."""

    def answer(self, prompt: str, system_prompt: str | None = None) -> tuple[str, list[str]]:
        """The base model's answer and any notices (e.g. truncation); `system_prompt` replaces the roles
        file's for this answer only."""

    def assess_safety(self, prompt: str, response: str | None = None) -> SafetyVerdict: ...

    def rate_responses(self, prompt: str, responses: list[str]) -> list[float | None]:
        """The safety model's response-harmful probability of each response, in one batch
        (None where the safety role has no response score)."""

    def check_principles(self, prompt: str, response: str, principles: list[Principle]) -> list[PrincipleVerdict]:
        """Violation probabilities only (cheap); critiques are written separately."""

    def write_critique(self, prompt: str, response: str, principle: Principle) -> str: ...

    def revise(self, prompt: str, response: str, critiques: list[tuple[Principle, str]]) -> str: ...

    def compare(self, prompt: str, a: str, b: str, principles: list[Principle]) -> list[JudgeVerdict]: ...
