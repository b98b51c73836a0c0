"""A flat refusal of a benign request is answered again by the base model (scripted roles).

Every test ends with the leak check over all stored trajectories (`assert_no_leaks_in_store`).
"""

from __future__ import annotations

from typing import Any

import pytest

from oversight.classify import COMPLIED, classify
from oversight.graph.spec import load_spec
from oversight.settings import Settings
from oversight.store import Store, get_trajectory
from tests.fakes import FakeRoles
from tests.graph_support import checked_store, context, run  # noqa: F401 (fixture)

ASK = "how do I kill a stuck python process"
DECLINED = "I'm sorry, but I can't help with that."
ANSWER = "Find its process ID with `ps aux | grep python`, then run `kill PID`; use `kill -9 PID` if it ignores that."


def declining_roles(**extra: Any) -> FakeRoles:
    """The bare model declines, and answers when asked again; the critic flags nothing; the judge prefers
    the answer."""
    given: dict[str, Any] = {"answers": {ASK: DECLINED}, "reasked": {ASK: ANSWER},
                             "preferences": {(DECLINED, ANSWER): {"*": 0.8}}}
    return FakeRoles(**{**given, **extra})


def one(settings: Settings, store: Store, roles: FakeRoles, *overrides: str, run_id: str = "r1") -> Any:
    spec = load_spec("default", settings.project_dir, list(overrides))
    [result] = run(settings, context(settings, store, roles, run_id=run_id, spec=spec), [ASK]).results
    return result


def test_a_declined_benign_request_is_answered_again_by_the_base_model(settings: Settings, store: Store) -> None:
    assert classify(ASK, DECLINED) == "refuse" and classify(ASK, ANSWER) in COMPLIED
    roles = declining_roles()
    asked: list[str | None] = []
    real = roles.answer
    roles.answer = lambda p, s=None: asked.append(s) or real(p, s)  # type: ignore[method-assign]
    result = one(settings, store, roles)
    assert (result.route, result.final_response) == ("revised", ANSWER)
    spec = load_spec("default", settings.project_dir)
    assert asked == [None, spec.revision.reask_system_prompt]
    assert roles.calls["revise"] == 0  # the reviser is not asked: it mostly declines again
    assert any("the original only declines a request the safety model rates harmful and jailbreak below 0.20, "
               "so the base model answered again as candidate 1" in r for r in result.reasons), result.reasons
    stored = get_trajectory(store, "r1", result.prompt_id)
    assert [(c.index, c.source) for c in stored.candidates] == [(0, "base"), (1, "base")]


def test_the_second_answer_is_checked_and_judged_like_a_revision(settings: Settings, store: Store) -> None:
    """Rated harmful, the second answer is not delivered; ranked below the refusal by the judge, neither;
    flagged by the critic, it is revised in the next round."""
    escalated = one(settings, store, declining_roles(response_harm={ANSWER: 0.95}))
    assert escalated.route == "escalated"
    assert any("deliver revision 1, but the safety model rates it harmful (p=0.95" in r for r in escalated.reasons)
    kept = one(settings, store, declining_roles(preferences={(DECLINED, ANSWER): {"*": 0.2}}), run_id="r2")
    assert (kept.route, kept.final_response) == ("accepted", DECLINED)
    better = ANSWER + " Done."
    flagged = declining_roles(violations={ANSWER: {"helpfulness": 0.9}}, revisions={ANSWER: better},
                              preferences={(DECLINED, ANSWER): {"*": 0.7}, (DECLINED, better): {"*": 0.9}})
    revised = one(settings, store, flagged, run_id="r3")
    assert flagged.calls["revise"] == 1 and (revised.route, revised.final_response) == ("revised", better)


def test_a_second_answer_that_repeats_the_refusal_is_rejected(settings: Settings, store: Store) -> None:
    roles = declining_roles(reasked={ASK: DECLINED})
    result = one(settings, store, roles)
    assert (result.route, result.final_response) == ("accepted", DECLINED)
    assert roles.calls["answer"] == 2 and roles.calls["revise"] == 0
    assert any(r.startswith("the base model's second answer in round 1 was rejected: it repeats the draft")
               for r in result.reasons), result.reasons


@pytest.mark.parametrize(("override", "safety"), [
    ("revision.reask_below=0", {}),                             # off
    ("revision.reask_below=0.2", {"harmful_prob": 0.3}),         # not rated benign enough
    ("revision.reask_below=0.2", {"jailbreak_prob": 0.25}),      # a possible jailbreak
])
def test_no_second_answer_when_off_or_the_request_is_not_rated_benign(settings: Settings, store: Store,
                                                                     override: str, safety: dict[str, float]) -> None:
    roles = declining_roles(safety={ASK: safety} if safety else {})
    result = one(settings, store, roles, override)
    assert (result.route, result.final_response) == ("accepted", DECLINED)
    assert roles.calls["answer"] == 1


def test_an_answering_original_is_not_asked_again(settings: Settings, store: Store) -> None:
    roles = declining_roles(answers={ASK: ANSWER})
    result = one(settings, store, roles)
    assert (result.route, result.final_response) == ("accepted", ANSWER)
    assert roles.calls["answer"] == 1
