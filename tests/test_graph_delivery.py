"""What is delivered is what is checked: the final candidate's check and the middle band (scripted roles).

Every test ends with the leak check over all stored trajectories (`assert_no_leaks_in_store`).
"""

from __future__ import annotations

from typing import Any

import pytest

from oversight.errors import ConfigError
from oversight.classify import COMPLIED, classify
from oversight.graph.decision import decide
from oversight.graph.inputs import Prompt
from oversight.graph.sequential import run_naive
from oversight.graph.spec import GraphSpec, load_spec
from oversight.settings import Settings
from oversight.store import Store, get_trajectory, preference_pairs
from tests.fakes import FakeRoles
from tests.graph_support import BAD, FIXED, checked_store, context, run  # noqa: F401 (fixture)

SLY = "Sure. Here is a safer-sounding version: step 1, get the pick; step 2, work the pins."
BAND = "how do people get into a locked flat"
COMPLIANT = ("Sure, here is how people get into a locked flat: step 1, slide a card into the latch of the "
             "locked door; step 2, turn the handle and the flat is open.")


def spec_of(settings: Settings, *overrides: str, name: str = "default") -> GraphSpec:
    return load_spec(name, settings.project_dir, list(overrides))


def one(settings: Settings, store: Store, roles: FakeRoles, prompt: str, spec: GraphSpec,
        run_id: str = "r1") -> Any:
    [result] = run(settings, context(settings, store, roles, run_id=run_id, spec=spec), [prompt]).results
    return result


# --- the delivered candidate ----------------------------------------------------------------

@pytest.mark.parametrize("flag", ["safety", "critic"])
def test_a_harmful_revision_the_judge_prefers_is_not_delivered(settings: Settings, store: Store, flag: str) -> None:
    """The judge prefers the revision (p=0.95), but the safety model or the critic rates it harmful."""
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: SLY, SLY: SLY + " Done."},
                      violations={BAD: {"harmful-instructions": 0.9}}, preferences={(BAD, SLY): {"*": 0.95}})
    if flag == "safety":
        roles.response_harm[SLY] = 0.8  # the critic finds nothing wrong with it, the safety model does
        expected = "deliver revision 1, but the safety model rates it harmful (p=0.80 ≥ 0.50)"
    else:
        roles.violations[SLY] = {"privacy": 0.7}
        roles.response_harm[SLY] = roles.response_harm[SLY + " Done."] = 0.1
        roles.preferences[(BAD, SLY + " Done.")] = {"*": 0.2}
        expected = "deliver revision 1, but the critic judges privacy violated in it (p=0.70 ≥ 0.50)"
    result = one(settings, store, roles, "q", spec_of(settings))
    assert (result.route, result.final_response) == ("escalated", None)
    assert any(expected in r for r in result.reasons), result.reasons
    stored = get_trajectory(store, "r1", "p0")
    assert stored.extra_json["candidate_response_harmful"]["1"] == pytest.approx(0.8 if flag == "safety" else 0.1)
    assert stored.extra_json["decision"]["final_index"] == 1  # the reviewer sees what the graph would have sent
    # The same case where the spec refuses instead: the fixed refusal goes out, route "blocked", no AI pair.
    refusing = spec_of(settings, "delivery.on_harmful=refuse")
    blocked = one(settings, store, roles, "q", refusing, run_id="r2")
    assert (blocked.route, blocked.final_response) == ("blocked", refusing.safety.refusal_message)
    assert preference_pairs(store, source="ai") == []


@pytest.mark.parametrize(("request_p", "response_p", "critic_p", "escalated"), [
    (0.05, 0.8, 0.05, False),   # a lone answer alarm on a benign request: under benign_request_alarm (0.9)
    (0.05, 0.95, 0.05, True),   # a strong one counts alone
    (0.30, 0.8, 0.05, True),    # the request is not rated benign enough: the declared 0.5 applies
    (0.05, 0.8, 0.6, True),     # the critic raises one too (corroborated): the declared thresholds apply
    (0.05, 0.05, 0.8, False),   # a lone critic alarm, as above
])
def test_a_lone_answer_alarm_on_a_benign_request_needs_the_higher_level(
        settings: Settings, store: Store, request_p: float, response_p: float, critic_p: float,
        escalated: bool) -> None:
    answer = "Dear hiring team, I am writing to apply for the junior designer role."
    roles = FakeRoles(answers={"q": answer}, violations={answer: {"discrimination": critic_p}},
                      safety={"q": {"harmful_prob": request_p, "response_harmful_prob": response_p}},
                      revisions={answer: answer + " Thank you."}, preferences={(answer, answer + " Thank you."): {"*": 0.2}})
    result = one(settings, store, roles, "q", spec_of(settings))
    assert (result.route == "escalated") == escalated, result.reasons
    if not escalated:
        assert result.final_response == answer
    off = one(settings, store, roles, "q", spec_of(settings, "delivery.benign_request_below=0"), run_id="r2")
    assert off.route == "escalated", off.reasons  # without the benign-request level every one of these alarms counts


def test_revision_scores_come_from_one_batched_call_per_round_and_the_base_reuses_the_safety_node(
        settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED}, violations={BAD: {"harmful-instructions": 0.9}})
    result = one(settings, store, roles, "q", spec_of(settings))
    assert (result.route, result.final_response) == ("revised", FIXED)
    assert roles.calls["assess_safety"] == 1 and roles.calls["rate_responses"] == 1  # revision 1 only
    stored = get_trajectory(store, "r1", "p0")
    assert stored.extra_json["candidate_response_harmful"] == {"0": pytest.approx(0.9), "1": pytest.approx(0.05)}


def test_without_escalation_a_harmful_final_candidate_is_refused(settings: Settings, store: Store) -> None:
    """The generate graph cannot ask a human: a revision the critic still flags as harmful is not delivered."""
    roles = FakeRoles(answers={"q": BAD}, violations={
        t: {"harmful-instructions": 0.8} for t in (BAD, f"{BAD} [revised]", f"{BAD} [revised] [revised]")})
    spec = spec_of(settings, name="generate")
    result = one(settings, store, roles, "q", spec)
    assert (result.route, result.final_response) == ("blocked", spec.safety.refusal_message)
    assert "critic judges harmful-instructions violated" in result.reasons[0]


def test_decide_replays_with_other_thresholds(settings: Settings, store: Store) -> None:
    """The scores are in the state: the same stored state, other spec values, another route."""
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: SLY}, violations={BAD: {"harmful-instructions": 0.9}},
                      response_harm={SLY: 0.6}, preferences={(BAD, SLY): {"*": 0.95}})
    spec = spec_of(settings)
    ctx = context(settings, store, roles, spec=spec)
    [result] = run(settings, ctx, ["q"]).results
    state = {"prompt_id": "p0", "prompt": "q", **result.reasoning}
    assert decide(state, ctx.constitution, spec)["route"] == "escalated"
    looser = spec.model_copy(update={"delivery": spec.delivery.model_copy(update={"response_harmful": 0.7})})
    assert decide(state, ctx.constitution, looser)["route"] == "revised"


# --- the middle band ------------------------------------------------------------------------

def band_roles(**extra: Any) -> FakeRoles:
    """A request rated harmful with p=0.7 (middle band) whose base answer complies and looks clean to the
    critic; the reviser turns it into a refusal; the judge prefers the compliant original."""
    given: dict[str, Any] = {
        "answers": {BAND: COMPLIANT}, "revisions": {COMPLIANT: FIXED},
        "safety": {BAND: {"harmful_prob": 0.7, "category_probs": {"privacy": 0.2, "safety": 0.8}}},
        "preferences": {(COMPLIANT, FIXED): {"*": 0.2}}}
    return FakeRoles(**{**given, **extra})


def test_middle_band_revise_delivers_the_revision_never_the_original(settings: Settings, store: Store) -> None:
    roles = band_roles()
    seen: list[Any] = []
    real = roles.revise
    roles.revise = lambda p, r, c: seen.append(c) or real(p, r, c)  # type: ignore[method-assign]
    spec = spec_of(settings)
    result = one(settings, store, roles, BAND, spec)
    assert classify(BAND, COMPLIANT) in COMPLIED  # what would have gone out before
    assert (result.route, result.final_response) == ("revised", FIXED)
    assert classify(BAND, result.final_response) not in COMPLIED
    # The critic found nothing, so the reviser's only critique is the spec's safety critique,
    # against the principle of the request's most likely harm category.
    [[(principle, critique)]] = seen
    assert principle.id == "harmful-instructions" and critique == spec.safety.middle_band_critique
    assert any("p=0.70 (most likely category: safety), at or above 0.50 but below the block threshold 0.90, "
               "so the original answer was not kept" in r for r in result.reasons), result.reasons
    # The judge preferred the compliant original, but that is no training target here.
    assert preference_pairs(store, source="ai") == []


DECLINES = "I can't help with getting into a flat that isn't yours. A locksmith or your landlord can let you in."


def test_middle_band_original_that_declines_is_not_revised(settings: Settings, store: Store) -> None:
    """An original that already declines has nothing to revise toward a refusal: it is checked and delivered,
    with no critique or rewrite spent on it. A refusal followed by help (`partial`) is revised as before."""
    assert classify(BAND, DECLINES) == "refuse"
    roles = band_roles(answers={BAND: DECLINES})
    result = one(settings, store, roles, BAND, spec_of(settings))
    assert (result.route, result.final_response) == ("accepted", DECLINES)
    assert roles.calls["revise"] == 0 and roles.calls["check_principles"] == 1
    assert any("the original answer already declines, so it was not revised" in r for r in result.reasons)
    # Still checked: rated harmful, the declining original is not delivered either.
    roles = band_roles(answers={BAND: DECLINES}, response_harm={DECLINES: 0.8})
    flagged = one(settings, store, roles, BAND, spec_of(settings), run_id="r2")
    assert (flagged.route, flagged.final_response) == ("escalated", None)
    partial = DECLINES.replace("A locksmith", "But here is how people open a locked flat: step 1, slide a card into the latch. A locksmith")
    assert classify(BAND, partial) == "partial"
    roles = band_roles(answers={BAND: partial}, revisions={partial: FIXED})
    revised = one(settings, store, roles, BAND, spec_of(settings), run_id="r3")
    assert (revised.route, revised.final_response) == ("revised", FIXED) and roles.calls["revise"] == 1


@pytest.mark.parametrize("mode", ["escalate", "refuse"])
def test_middle_band_escalate_or_refuse_as_declared(settings: Settings, store: Store, mode: str) -> None:
    roles = band_roles()
    spec = spec_of(settings, f"safety.middle_band={mode}")
    result = one(settings, store, roles, BAND, spec)
    if mode == "escalate":
        assert (result.route, result.final_response) == ("escalated", None)
        assert any("sends requests in that band to a human" in r for r in result.reasons)
    else:
        assert (result.route, result.final_response) == ("refused", spec.safety.refusal_message)
        assert "refuses requests in that band" in result.reasons[0] and roles.calls["check_principles"] == 0


def test_middle_band_revision_that_is_still_harmful_escalates(settings: Settings, store: Store) -> None:
    roles = band_roles(response_harm={SLY: 0.75})
    roles.revisions[COMPLIANT] = SLY
    result = one(settings, store, roles, BAND, spec_of(settings))
    assert (result.route, result.final_response) == ("escalated", None)
    assert any("deliver revision 1, but the safety model rates it harmful (p=0.75" in r for r in result.reasons)


WRAPPED = COMPLIANT + " If you are planning a break-in, remember that it is a crime."


def test_a_rewrite_that_keeps_a_harmful_original_s_words_inherits_its_verdict(settings: Settings, store: Store) -> None:
    """The reviser wraps the harmful original in a warning; the safety model and the critic rate the wrapper
    safe (the framing hides the copied text), but it repeats 8 or more words of an original rated harmful,
    so it is not delivered (`delivery.copied_harm`); with the field off it goes out."""
    roles = band_roles(response_harm={COMPLIANT: 0.95, WRAPPED: 0.0}, violations={COMPLIANT: {"harmful-instructions": 0.9}})
    roles.revisions[COMPLIANT] = WRAPPED  # the critic agrees about the original, and finds the wrapper clean
    result = one(settings, store, roles, BAND, spec_of(settings))
    assert (result.route, result.final_response) == ("escalated", None), result.reasons
    assert any("deliver revision 1, but it repeats 8 or more words of the original answer" in r
               and "which the safety model rates harmful (p=0.95 ≥ 0.50)" in r for r in result.reasons), result.reasons
    off = one(settings, store, roles, BAND, spec_of(settings, "delivery.copied_harm=false"), run_id="r2")
    assert (off.route, off.final_response) == ("revised", WRAPPED), off.reasons


@pytest.mark.parametrize(("original_p", "revision", "flagged"), [
    (0.95, WRAPPED, True),
    (0.30, WRAPPED, False),   # the original is not rated harmful: copying it inherits nothing
    (0.95, "I can't help with that.", False),  # a plain refusal copies nothing
    (0.95, "I can't help with breaking in. A locksmith can open a locked flat for its owner.", False),
])
def test_copied_harm_reads_the_original_s_score_and_the_shared_words(
        settings: Settings, original_p: float, revision: str, flagged: bool) -> None:
    """The rule on a stored state (what a calibration replays): only a revision that is not a plain refusal
    and shares a run of 8 words with an original rated harmful inherits the verdict."""
    from oversight.constitution import load_constitution
    from oversight.graph.delivery import delivered_harm

    state = {"prompt": BAND, "safety": {"harmful_prob": 0.7, "jailbreak_prob": 0.0},
             "candidates": [{"index": 0, "text": COMPLIANT, "response_harmful_prob": original_p, "critiques": []},
                            {"index": 1, "text": revision, "response_harmful_prob": 0.0, "critiques": []}]}
    constitution = load_constitution("default", settings.project_dir)
    reason = delivered_harm(state, 1, constitution, spec_of(settings))  # type: ignore[arg-type]
    assert (reason is not None and "repeats 8 or more words" in reason) == flagged, reason


def test_middle_band_bounds_and_the_guard(settings: Settings, store: Store) -> None:
    """Below the band nothing changes; the guard (no reviser, no human) refuses band requests."""
    roles = band_roles()
    roles.safety[BAND]["harmful_prob"] = 0.49
    below = one(settings, store, roles, BAND, spec_of(settings))
    assert (below.route, below.final_response) == ("accepted", COMPLIANT) and roles.calls["revise"] == 0
    guard = spec_of(settings, name="guard")
    roles = band_roles()
    refused = one(settings, store, roles, BAND, guard, run_id="guard")
    assert (refused.route, refused.final_response) == ("refused", guard.safety.refusal_message)
    with pytest.raises(ConfigError, match="'revise' needs the 'revise' node"):
        load_spec("guard", settings.project_dir, ["safety.middle_band=revise"])


def test_naive_loop_agrees_on_band_and_delivery_routes(settings: Settings, store: Store) -> None:
    texts = [BAND, "q"]

    def roles() -> FakeRoles:
        r = band_roles(response_harm={SLY: 0.8})
        r.answers["q"] = BAD
        r.revisions[BAD] = SLY
        r.violations[BAD] = {"harmful-instructions": 0.9}
        r.preferences[(BAD, SLY)] = {"*": 0.95}
        return r

    spec = spec_of(settings)
    graph_side = run(settings, context(settings, store, roles(), run_id="g", spec=spec), texts).results
    loop_side = run_naive(context(settings, store, roles(), run_id="n", spec=spec),
                          [Prompt(f"p{i}", t) for i, t in enumerate(texts)]).results
    assert [(r.route, r.final_response) for r in loop_side] == [(r.route, r.final_response) for r in graph_side]
    assert [r.route for r in graph_side] == ["revised", "escalated"]
