"""A reviewer's decision on an escalated thread, checked and applied.

Decisions look like {"action": "accept" | "choose" | "edit" | "refuse" | "revise",
"candidate": index (choose), "text": str (edit; optional reference answer for refuse),
"reviewer": name, "note": str}; other keys (ranking, violations, review item) pass through.
`accept` takes the graph's own proposal; `refuse` answers with the reviewer's reference
text or else the spec's refusal message; `revise` sends the thread back to the reviser
with the note as the critique, and it goes round again (and may come back for review).
Edits and refusals become human candidates, so they can be chosen over the model's
answers in preference pairs. A decision with `timed_out` set (nobody decided in time)
delivers the refusal but teaches nothing: it yields no human preference pairs.
"""

from __future__ import annotations

from typing import Any

from oversight.errors import OversightError
from oversight.graph.spec import GraphSpec
from oversight.graph.state import Decision, State

ACTIONS = ("accept", "choose", "edit", "refuse", "revise")


def check_decision(state: State, decision: Any, spec: GraphSpec | None = None) -> dict[str, Any]:
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
    if action == "refuse" and decision.get("text") is not None and (
            not isinstance(decision["text"], str) or not decision["text"].strip()):
        raise OversightError("decision 'refuse' takes an optional non-empty 'text' (the reference answer)")
    if action == "revise":
        note = decision.get("note")
        if not isinstance(note, str) or not note.strip():
            raise OversightError("decision 'revise' needs a 'note': it is what the reviser is asked to fix")
        if spec is not None and not spec.has("revise"):
            raise OversightError(f"graph '{spec.name}' has no reviser to send the thread back to; "
                                 "use choose, edit or refuse")
    if action == "accept" and state.get("decision", {}).get("final_index") is None:
        raise OversightError("decision 'accept' has nothing to accept here (the graph proposed no "
                             "candidate); use choose, edit or refuse")
    return dict(decision)


def apply_decision(state: State, decision: dict[str, Any], spec: GraphSpec
                   ) -> tuple[list[dict[str, Any]], Decision]:
    """New candidates (with a human one for edit/refuse) and the final decision.

    For `revise` the decision stays open (route "escalated", nothing delivered): the
    graph's edge after `escalate` sends the thread to the reviser instead of `persist`.
    """
    decision = check_decision(state, decision, spec)
    candidates = [dict(c) for c in state.get("candidates", [])]
    proposed = state.get("decision", {})
    reasons = list(proposed.get("reasons", []))
    who = decision.get("reviewer") or "a reviewer"
    action = decision["action"]
    note = f": {decision['note']}" if decision.get("note") else ""
    if action == "revise":
        reasons.append(f"{who} sent the answer back to the reviser{note}")
        return candidates, Decision(route="escalated", final_index=None, final_text=None, reasons=reasons,
                                    judge_confidence=proposed.get("judge_confidence"))
    if action in ("edit", "refuse"):
        text = decision["text"].strip() if decision.get("text") else spec.safety.refusal_message
        existing = next((c for c in candidates if c["source"] == "human" and c["text"] == text), None)
        if existing is None:
            existing = {"index": len(candidates), "round": state.get("round", 0), "text": text,
                        "source": "human"}
            candidates.append(existing)
        index = existing["index"]
    else:
        index = proposed["final_index"] if action == "accept" else decision["candidate"]
    route = "refused" if action == "refuse" else "revised" if index else "accepted"
    reasons.append(f"{who} decided '{action}' (candidate {index}){note}")
    return candidates, Decision(route=route, final_index=index, final_text=candidates[index]["text"],
                                reasons=reasons, judge_confidence=proposed.get("judge_confidence"))
