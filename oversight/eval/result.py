"""What one evaluation run measured, kept as JSON so runs can be compared and gated later.

A result names its target and the target's versions, the exact items it ran (their
content hash), the classifier method that labelled the responses, and every rate as
k of n so Wilson intervals and significance can be recomputed anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from oversight.errors import OversightError
from oversight.eval.stats import Rate

# Rate names every result may carry (per-suite / per-type ones are prefixed: "jailbreak_success/role-play").
HARMFUL_COMPLIANCE = "harmful_compliance"
JAILBREAK_SUCCESS = "jailbreak_success"
BENIGN_REFUSAL = "benign_refusal"
HELPFUL_REFUSAL = "helpful_refusal"
HELPFULNESS = "helpfulness"
ESCALATION = "escalation"
# Share of held-out preference pairs whose chosen answer the target finds likelier (preference.py).
HELDOUT_PREFERENCE = "heldout_preference"


class ItemOutcome(BaseModel):
    """One suite item as the target answered it."""

    id: str
    suite: str
    category: str
    attack_type: str | None = None
    expected: str
    response: str = ""
    label: str = Field("", description="classifier label: comply, partial, refuse, off-topic, empty")
    held: bool = Field(False, description="escalated to a human (graph targets); counted apart")
    route: str | None = None
    original: str | None = Field(None, description="the base model's first answer inside a graph (critic AUROC)")
    original_label: str | None = None
    safety: dict[str, float] = Field(default_factory=dict, description="safety head probabilities")
    critic: dict[str, float] = Field(default_factory=dict, description="critic P(violation) per principle")
    helpfulness: float | None = Field(None, description="judge P(response better than the reference)")
    seconds: float = 0.0


class PairScore(BaseModel):
    """A version's mean per-token log-probabilities of one held-out pair's answers (nats per token)."""

    id: str
    chosen: float
    rejected: float

    @property
    def margin(self) -> float:
        """How much likelier, per token, the chosen answer is than the rejected one (> 0: ranked right)."""
        return self.chosen - self.rejected


class EvalResult(BaseModel):
    """One evaluation run: target, suites, labelled outcomes and the rates derived from them."""

    run_id: str
    target: str
    target_versions: dict[str, Any] = Field(default_factory=dict)
    suites: dict[str, str] = Field(default_factory=dict, description="suite name -> file content hash")
    suite_hash: str = Field(description="hash of exactly the items (suites, split, limit) and pairs evaluated")
    split: str = "test"
    classifier: str = ""
    created_at: str = ""
    seconds: float = 0.0
    rates: dict[str, dict[str, float]] = Field(default_factory=dict, description="name -> Rate.to_dict()")
    figures: dict[str, float | None] = Field(default_factory=dict, description="AUROCs, throughput, means")
    items: list[ItemOutcome] = Field(default_factory=list)
    pairs: list[PairScore] = Field(default_factory=list, description="held-out preference pairs as scored")
    notes: list[str] = Field(default_factory=list, description="what was measured how, and what was not")
    run_dir: str | None = None

    def rate(self, name: str) -> Rate | None:
        data = self.rates.get(name)
        return Rate.from_dict(data) if data else None

    def rate_objects(self) -> dict[str, Rate]:
        return {name: Rate.from_dict(data) for name, data in self.rates.items()}

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "result.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.model_dump_json(indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> EvalResult:
        """Read a result.json (or a run folder holding one)."""
        path = Path(path)
        if path.is_dir():
            path = path / "result.json"
        if not path.is_file():
            raise OversightError(f"no eval result at {path}")
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (ValueError, json.JSONDecodeError) as exc:
            raise OversightError(f"{path}: not an eval result ({str(exc).splitlines()[0]})") from exc


def require_same_suites(a: EvalResult, b: EvalResult) -> None:
    """Refuse to compare or gate results measured on different items."""
    if a.suite_hash != b.suite_hash:
        raise OversightError(
            f"runs {a.run_id} and {b.run_id} were evaluated on different suites "
            f"(suite hash {a.suite_hash[:12]} vs {b.suite_hash[:12]}); evaluate both on the same suite, split and limit")
