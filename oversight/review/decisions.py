"""Checking a reviewer's decision against its item, and what it does to the item.

The graph understands accept / choose / edit / refuse (and, with graph support,
revise: back to the model with the note as a critique); the rest of a decision
(ranking, principles marked per candidate, the note) travels with it into the
thread's `human` record and into the human preference pairs.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from oversight.errors import OversightError
from oversight.review.models import DecisionInput
from oversight.store.claims import Resolution
from oversight.store.records import ReviewRecord

MAX_TEXT = 20_000


def parse(raw: DecisionInput | dict[str, Any]) -> DecisionInput:
    """A DecisionInput from a mapping; a malformed one is one readable OversightError."""
    if isinstance(raw, DecisionInput):
        return raw
    if not isinstance(raw, dict):
        raise OversightError(f"a decision must be a mapping with an 'action', got {type(raw).__name__}")
    try:
        return DecisionInput.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "decision"
        raise OversightError(f"malformed decision: {where}: {err['msg']}") from None


def check(decision: DecisionInput, item: ReviewRecord, principle_ids: set[str] | None,
          role: str) -> DecisionInput:
    """Raise OversightError naming the first thing wrong with the decision for this item."""
    payload = item.payload_json
    count = len(payload.get("candidates") or [])
    valid = range(count)
    action = decision.action
    if action == "accept" and payload.get("proposal") is None:
        raise OversightError("'accept' has nothing to accept here (the graph proposed no candidate); "
                             "use choose, edit or refuse")
    if action == "choose" and decision.candidate not in valid:
        raise OversightError(f"'choose' needs a candidate index 0..{count - 1}, got {decision.candidate!r}")
    if action == "edit" and not (decision.text or "").strip():
        raise OversightError("'edit' needs the final response in 'text'")
    if action == "revise" and not decision.note.strip():
        raise OversightError("'revise' needs a note: it is what the reviser is asked to fix")
    if action == "unsure" and role == "admin":
        raise OversightError("'unsure' sends an item to an admin; as an admin, decide it")
    if len(decision.text or "") > MAX_TEXT or len(decision.note) > MAX_TEXT:
        raise OversightError(f"text and note are limited to {MAX_TEXT} characters")
    if decision.ranking is not None:
        if len(set(decision.ranking)) != len(decision.ranking) or any(i not in valid for i in decision.ranking):
            raise OversightError(f"'ranking' lists distinct candidate indices 0..{count - 1}, "
                                 f"got {decision.ranking}")
        kept = chosen_index(decision.model_dump(), payload.get("proposal"))
        if kept is not None and decision.ranking and decision.ranking[0] != kept:
            raise OversightError(f"'ranking' puts candidate {decision.ranking[0]} first but the decision keeps "
                                 f"candidate {kept}")
    for index, ids in decision.violations.items():
        if index not in valid:
            raise OversightError(f"'violations' names candidate {index}; there are 0..{count - 1}")
        unknown = [p for p in ids if principle_ids is not None and p not in principle_ids]
        if unknown:
            raise OversightError(f"'violations' of candidate {index}: no principle {unknown[0]!r} "
                                 "in the item's constitution")
    return decision


def chosen_index(decision: dict[str, Any], proposal: int | None) -> int | None:
    """The model candidate a decision keeps, if any."""
    if decision.get("action") == "accept":
        return proposal
    if decision.get("action") == "choose":
        return decision.get("candidate")
    return None


def outcome_label(decision: dict[str, Any], proposal: int | None) -> str:
    """What the decision amounts to, for agreement: 'candidate 1', 'edit', 'refuse', 'revise'."""
    index = chosen_index(decision, proposal)
    return f"candidate {index}" if index is not None else str(decision.get("action"))


def to_graph(decision: DecisionInput, reviewer: str, item: ReviewRecord) -> dict[str, Any]:
    """The decision as the graph's resume value: its own keys plus the reviewer's extras."""
    out: dict[str, Any] = {"action": decision.action, "reviewer": reviewer, "review_item": item.id}
    if decision.action == "choose":
        out["candidate"] = decision.candidate
    if decision.action in ("edit", "refuse") and (decision.text or "").strip():
        out["text"] = decision.text.strip()  # type: ignore[union-attr]
    if decision.note.strip():
        out["note"] = decision.note.strip()
    if decision.ranking is not None:
        out["ranking"] = list(decision.ranking)
    if decision.violations:
        out["violations"] = {str(k): sorted(set(v)) for k, v in sorted(decision.violations.items())}
    return out


def resolver(decision: dict[str, Any], role: str, needed: int):  # type: ignore[no-untyped-def]
    """The rule `store.claims.decide_item` applies inside its transaction."""

    def resolve(item: ReviewRecord, prior: list[dict[str, Any]]) -> Resolution:
        action = decision["action"]
        if action == "unsure":
            return Resolution("admin", None, "unsure: sent to an admin")
        if role == "admin" or item.status == "admin":
            return Resolution("decided", decision, "decided by an admin")
        if needed < 2:
            return Resolution("decided", decision)
        firsts = [p for p in prior if p["role"] == "reviewer" and p["decision"].get("action") != "unsure"]
        if not firsts:
            return Resolution("pending", None, "first of two independent reviews")
        proposal = item.payload_json.get("proposal")
        if outcome_label(firsts[0]["decision"], proposal) == outcome_label(decision, proposal):
            return Resolution("decided", decision, f"agrees with {firsts[0]['reviewer']}")
        return Resolution("admin", None, f"disagrees with {firsts[0]['reviewer']}: sent to an admin")

    return resolve
