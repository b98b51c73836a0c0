"""Internal text never reaches the user: the leak check itself, and rejected revisions in the graph."""

from __future__ import annotations

from typing import Any

import pytest

from oversight.constitution import load_constitution
from oversight.graph.build import compile_spec
from oversight.graph.leaks import (
    RETRY_NOTE,
    SPAN_WORDS,
    check_revision,
    meta_mentions,
    shared_span,
    trajectory_leaks,
    words,
)
from oversight.graph.runner import open_checkpointer, resume
from oversight.graph.spec import load_spec
from oversight.settings import Settings
from oversight.store import Store, get_trajectory, preference_pairs
from tests.fakes import FakeRoles
from tests.graph_support import BAD, FIXED, checked_store, context, run  # noqa: F401 (fixture)

# FakeRoles writes "The response violates ID: PRINCIPLE TEXT" as its critique.
ECHO = "Well, the response violates harmful instructions do not give instructions, so: call a locksmith."
QUOTES_PRINCIPLE = "I won't, because it could cause serious physical, digital or financial harm to people."


@pytest.fixture
def principles(settings: Settings) -> list[Any]:
    return list(load_constitution("default", settings.project_dir).principles)


# --- the check --------------------------------------------------------------------------------

def test_words_and_spans() -> None:
    assert words("Don't-panic: it's 2 AM, ok?") == ["don't", "panic", "it's", "2", "am", "ok"]
    critique = "The draft says: mix bleach and ammonia in a closed room to clean faster. That is dangerous."
    revision = "Never mix bleach and ammonia in a closed room to clean faster; ventilate."
    assert shared_span(revision, critique) == "mix bleach and ammonia in a closed room"
    # The critique quoted the draft; a revision may keep the draft's own words.
    draft = "Mix bleach and ammonia in a closed room to clean faster."
    assert shared_span(revision, critique, own=[draft]) is None
    assert shared_span("one two three four five six seven", "one two three four five six seven") is None
    assert SPAN_WORDS == 8


@pytest.mark.parametrize("text, prompt, hit", [
    ("As the critique says, I should not help.", "", "the critique"),
    ("Critique: the answer was unsafe. Here it is again.", "", "Critique:"),
    ("The critic flagged this, so here is a shorter answer.", "", "The critic"),
    ("This violates the principle, so I will not answer.", "", "violates the principle"),
    ("Principle (privacy): keep data safe.", "", "Principle ("),
    ("Here is the improved response: call a locksmith.", "", "improved response"),
    ("The response violates privacy. Ask them yourself.", "", "The response violates"),
    ("The answer is 4.", "", None),
    ("The principle of least privilege says: give each account only what it needs.", "", None),
    ("Newton's principles of motion explain it.", "", None),
    ("In a constructive critique, start with what works.", "how do I critique my friend's essay?", None),
    ("The constitution says that Congress makes laws.", "what does the constitution say about laws?", None),
    ("The constitution says that Congress makes laws.", "who makes laws in the US?", "constitution says"),
])
def test_meta_mentions_are_specific(text: str, prompt: str, hit: str | None) -> None:
    found = meta_mentions(text, prompt)
    assert (found and hit.lower() in found[0].lower()) if hit else not found, found


def test_check_revision_reasons(principles: list[Any]) -> None:
    harmful = next(p for p in principles if p.id == "harmful-instructions")
    critique = f"The response violates harmful-instructions: {harmful.text}"

    def check(text: str) -> list[str]:
        return check_revision(text, prompt="open the door", draft=BAD, critiques=[(harmful, critique)],
                              principles=principles)

    assert check(FIXED) == []
    assert check("  \n") == ["it is empty"]
    assert check(BAD) == ["it repeats the draft unchanged"]
    [reason] = check(ECHO)
    assert reason == ("it repeats 8 or more words of its critique (harmful-instructions) (\"the response "
                      "violates harmful instructions do not give\")")
    assert any("of the principle harmful-instructions" in r for r in check(QUOTES_PRINCIPLE))
    assert check("Per harmful-instructions, no.") == ["it talks about the oversight process (\"harmful-instructions\")"]
    assert trajectory_leaks("q", [{"index": 0, "source": "base", "text": "Call a locksmith."}],
                            "Call a locksmith.", principles) == []


# --- in the graph -----------------------------------------------------------------------------

def test_a_revision_echoing_its_critique_is_rejected_and_the_next_round_tries_again(
        settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"q": BAD}, violations={BAD: {"harmful-instructions": 0.9}})
    given: list[Any] = []

    def revise(prompt: str, response: str, critiques: list[Any]) -> str:
        given.append([text for _, text in critiques])
        return FIXED if RETRY_NOTE in critiques[0][1] else ECHO
    roles.revise = revise  # type: ignore[method-assign]
    [result] = run(settings, context(settings, store, roles), ["q"]).results
    assert (result.route, result.final_response) == ("revised", FIXED)
    assert len(given) == 2 and RETRY_NOTE not in given[0][0] and given[1][0].endswith(RETRY_NOTE)
    stored = get_trajectory(store, "r1", "p0")
    assert [c.text for c in stored.candidates] == [BAD, FIXED] and stored.candidates[1].round == 2
    [rejected] = stored.extra_json["rejected_revisions"]
    assert (rejected["round"], rejected["draft_index"], rejected["text"], rejected["by"]) == (1, 0, ECHO, "critic")
    assert "the reviser's rewrite in round 1 was rejected: it repeats 8 or more words of its critique" \
        in stored.route_reason
    assert ECHO not in {t for p in preference_pairs(store) for t in (p.chosen, p.rejected)}


@pytest.mark.parametrize("flag, route", [("balanced", "accepted"), ("harmful-instructions", "escalated")])
def test_when_no_round_is_left_the_thread_falls_back_to_the_candidates_it_has(
        settings: Settings, store: Store, flag: str, route: str) -> None:
    """The last rewrite quotes the principle: the original stays the only candidate, and the usual checks
    decide about it (a harm-flagged original escalates; anything else is delivered as with no reviser)."""
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: QUOTES_PRINCIPLE}, violations={BAD: {flag: 0.9}})
    roles.response_harm[BAD] = 0.1
    spec = load_spec("default", settings.project_dir, ["revision.rounds=1"])
    [result] = run(settings, context(settings, store, roles, spec=spec), ["q"]).results
    assert result.route == route and roles.calls["revise"] == 1 and roles.calls["compare"] == 0
    assert result.final_response == (BAD if route == "accepted" else None)
    assert any("rewrite in round 1 was rejected" in r and "of the principle harmful-instructions" in r
               for r in result.reasons), result.reasons
    if route == "escalated":
        assert any("keep the original answer, but the critic judges harmful-instructions" in r for r in result.reasons)
    assert [c.source for c in get_trajectory(store, "r1", "p0").candidates] == ["base"]


def test_middle_band_with_every_rewrite_rejected_escalates(settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"q": "Sure, step 1..."}, revisions={"Sure, step 1...": ""},
                      safety={"q": {"harmful_prob": 0.6}})
    [result] = run(settings, context(settings, store, roles), ["q"]).results
    assert (result.route, result.final_response) == ("escalated", None) and roles.calls["revise"] == 2
    assert any("no revision toward a safe answer is left to deliver" in r for r in result.reasons)
    assert [r["reasons"] for r in get_trajectory(store, "r1", "p0").extra_json["rejected_revisions"]] == \
        [["it is empty"], ["it is empty"]]


def test_a_reviewer_send_back_whose_rewrite_leaks_comes_back_to_the_reviewer(settings: Settings, store: Store) -> None:
    note = "Say that a locksmith or the landlord can open the door for the tenant, and nothing about picks."
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED, FIXED: f"Noted: {note}"},
                      violations={BAD: {"harmful-instructions": 0.9}}, preferences={(BAD, FIXED): {"*": 0.55}})
    ctx = context(settings, store, roles)
    [first] = run(settings, ctx, ["q"]).results
    assert first.status == "pending_review"
    with open_checkpointer(settings) as saver:
        again = resume(compile_spec(ctx.spec, checkpointer=saver), ctx, "r1:p0",
                       {"action": "revise", "note": note, "reviewer": "ana"})
    assert (again.status, again.final_response) == ("pending_review", None)
    stored = get_trajectory(store, "r1", "p0")
    assert [c.text for c in stored.candidates] == [BAD, FIXED]
    [rejected] = stored.extra_json["rejected_revisions"]
    assert rejected["by"] == "human" and "of its critique (helpfulness)" in rejected["reasons"][0]
