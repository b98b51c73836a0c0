"""The state of one prompt's thread, kept JSON-plain so any checkpointer can store it.

Every node returns whole new values for the keys it changes (no merging
reducers): a node that re-runs after a crash or a resume then writes the same
thing again instead of appending twice, and the plain sequential loop in
`runner.run_sequential` can apply updates with `dict.update`.

Candidate (a dict): index (0 = base answer), round, text, source
("base" | "reviser" | "human"), critiques (list of {principle_id,
violation_prob, violated, text}) and response_harmful_prob (the safety model's
response score, None without a safety node) once the critic has seen it; a
revision also records draft_index (the candidate it rewrites).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import NotRequired, TypedDict

from oversight.verdicts import RouteName


class Decision(TypedDict, total=False):
    """What `route` decided: the route, the final candidate, and why, in words."""

    route: RouteName
    final_index: int | None
    final_text: str | None
    reasons: list[str]
    judge_confidence: float | None


class InputState(TypedDict):
    """What a caller provides to start a thread."""

    prompt_id: str
    prompt: str
    run_id: NotRequired[str]
    """The run the thread belongs to; the first node fills it from the context when absent.
    Everything the thread stores goes to this run, whoever resumes it."""


class State(InputState, total=False):
    """One prompt's way through the graph; internal reasoning never reaches `final_response`."""

    candidates: list[dict[str, Any]]
    """Every answer considered: the base answer, then one per revision round."""
    notices: list[str]
    """Things the user or reviewer should know (truncated prompt, ...)."""
    safety: dict[str, Any]
    """SafetyVerdict of the prompt and the base answer, plus top category and attack."""
    round: int
    """Revision rounds done so far."""
    rejected_revisions: list[dict[str, Any]]
    """Rewrites the leak check threw away: round, draft_index, text, reasons, by ("critic" | "human").
    Never candidates: not delivered, not judged, never a training target."""
    judgments: list[dict[str, Any]]
    """Judge rows: a_index, b_index, principle_id (None = combined), probabilities."""
    decision: Decision
    """The route decision (automatic, or after a human)."""
    human: dict[str, Any]
    """The reviewer's decision when the thread was escalated and resumed."""
    human_notes: list[dict[str, Any]]
    """Decisions that sent the thread back to the reviser (`revise`), oldest first."""
    final_response: str | None
    """The only user-visible output."""
    trajectory_id: int
    """Row id of the stored trajectory, once persisted."""


# ---- reading a thread's state ------------------------------------------------------

def violated(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    """The critiques of a candidate that the critic judged violated."""
    return [c for c in candidate.get("critiques", []) if c.get("violated")]


def combined_rows(state: State) -> dict[int, dict[str, Any]]:
    """The combined (all principles) judge row per revision index."""
    return {j["b_index"]: j for j in state.get("judgments", [])
            if j.get("principle_id") is None and j["a_index"] == 0}
