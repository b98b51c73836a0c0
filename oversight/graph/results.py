"""What a run reports: one result per prompt and the run's totals.

`reasoning` is internal (candidates, critiques, safety, judge rows): shown only
to reviewers and with --show-reasoning, never as the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oversight.graph.inputs import Prompt


@dataclass
class PromptResult:
    """One prompt's outcome; `reasoning` is internal and shown only on request."""

    prompt_id: str
    prompt: str
    status: str  # done | pending_review | error | skipped
    route: str
    final_response: str | None
    reasons: list[str] = field(default_factory=list)
    judge_confidence: float | None = None
    notices: list[str] = field(default_factory=list)
    reasoning: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def visible(self) -> dict[str, Any]:
        return {"id": self.prompt_id, "prompt": self.prompt, "response": self.final_response,
                "route": self.route, "status": self.status, "notices": self.notices}

    def full(self) -> dict[str, Any]:
        return {**self.visible(), "reasons": self.reasons, "judge_confidence": self.judge_confidence,
                "reasoning": self.reasoning, "error": self.error}


@dataclass
class RunReport:
    run_id: str
    results: list[PromptResult]
    elapsed_s: float
    generated_tokens: int | None = None

    def count(self, *routes: str) -> int:
        return sum(1 for r in self.results if r.route in routes)

    @property
    def mean_judge_confidence(self) -> float | None:
        values = [r.judge_confidence for r in self.results if r.judge_confidence is not None]
        return sum(values) / len(values) if values else None


def result_from_state(prompt: Prompt, values: dict[str, Any], status: str) -> PromptResult:
    decision = values.get("decision", {})
    return PromptResult(
        prompt_id=prompt.id, prompt=prompt.text, status=status,
        route="escalated" if status == "pending_review" else decision.get("route", "error"),
        final_response=None if status == "pending_review" else values.get("final_response"),
        reasons=list(decision.get("reasons", [])), judge_confidence=decision.get("judge_confidence"),
        notices=list(values.get("notices", [])),
        reasoning={k: values.get(k) for k in ("candidates", "safety", "judgments", "human") if values.get(k)})
