"""A reviewer's decision on an escalated thread, checked and applied.

Decisions look like {"action": "accept" | "choose" | "edit" | "refuse",
"candidate": index (choose), "text": str (edit), "reviewer": name, "note": str}.
`accept` takes the graph's own proposal; `refuse` answers with the spec's
refusal message. Edits and refusals become human candidates, so they can be
chosen over the model's answers in preference pairs.
"""

from __future__ import annotations

from typing import Any

from oversight.errors import OversightError
from oversight.graph.spec import GraphSpec
from oversight.graph.state import Decision, State

ACTIONS = ("accept", "choose", "edit", "refuse")


def check_decision(state: State, decision: Any) -> dict[str, Any]:
    """Validate a decision against the thread it resumes; OversightError names what is wrong."""
    if not isinstance(decision, dict):
        raise OversightError(f"a decision must be a mapping with an 'action', got {type(decision).__name__}")
    action = decision.get("action")
    if action not in ACTIONS:
        raise OversightError(f"decision action must be one of {', '.join(ACTIONS)}, got {action!r}")
    candidates = state.get("candidates", [])
    if action == "choose":
        idx = decision.get("candidate")
        if not isinstance(idx, int) or not 0 <= idx < len(candidates):
            raise OversightError(f"decision 'choose' needs a candidate index 0..{len(candidates) - 1}, got {idx!r}")
    if action == "edit":
        text = decision.get("text")
        if not isinstance(text, str) or not text.strip():
            raise OversightError("decision 'edit' needs a non-empty 'text'")
    if action == "accept" and state.get("decision", {}).get("final_index") is None:
        raise OversightError("decision 'accept' has nothing to accept here (the graph proposed no "
                             "candidate); use choose, edit or refuse")
    return dict(decision)


def apply_decision(state: State, decision: dict[str, Any], spec: GraphSpec
                   ) -> tuple[list[dict[str, Any]], Decision]:
    """New candidates (with a human one for edit/refuse) and the final decision."""
    decision = check_decision(state, decision)
    candidates = [dict(c) for c in state.get("candidates", [])]
    proposed = state.get("decision", {})
    reasons = list(proposed.get("reasons", []))
    who = decision.get("reviewer") or "a reviewer"
    action = decision["action"]
    if action in ("edit", "refuse"):
        text = decision["text"].strip() if action == "edit" else spec.safety.refusal_message
        existing = next((c for c in candidates if c["source"] == "human" and c["text"] == text), None)
        if existing is None:
            existing = {"index": len(candidates), "round": state.get("round", 0), "text": text,
                        "source": "human"}
            candidates.append(existing)
        index = existing["index"]
    else:
        index = proposed["final_index"] if action == "accept" else decision["candidate"]
    route = "refused" if action == "refuse" else "revised" if index else "accepted"
    note = f": {decision['note']}" if decision.get("note") else ""
    reasons.append(f"{who} decided '{action}' (candidate {index}){note}")
    return candidates, Decision(route=route, final_index=index, final_text=candidates[index]["text"],
                                reasons=reasons, judge_confidence=proposed.get("judge_confidence"))
