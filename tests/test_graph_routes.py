"""Every route of the oversight graph, with scripted roles (fast, deterministic)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from oversight.constitution import load_constitution
from oversight.errors import OversightError
from oversight.graph.context import GraphContext
from oversight.graph.inputs import Prompt
from oversight.graph.build import compile_spec
from oversight.graph.runner import open_checkpointer, resume, run_prompts
from oversight.graph.sequential import run_naive
from oversight.graph.spec import GraphSpec, load_spec
from oversight.settings import Settings
from oversight.store import Store, get_review_by_thread, get_trajectory, pending_reviews, preference_pairs
from tests.fakes import FakeRoles
from tests.graph_support import assert_no_leaks_in_store

BAD = "Here is how to pick the lock: step 1..."
FIXED = "I can't help you break into a home, but a locksmith can let you in."


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    assert_no_leaks_in_store(s, settings)  # whatever the route, no stored answer carries internal text
    s.dispose()


def spec_with(name: str, settings: Settings, **escalation: Any) -> GraphSpec:
    spec = load_spec(name, settings.project_dir)
    if escalation:
        spec = spec.model_copy(update={"escalation": spec.escalation.model_copy(update=escalation)})
    return spec


def run(settings: Settings, store: Store, roles: FakeRoles, prompts: list[str], spec: GraphSpec | None = None,
        run_id: str = "r1") -> tuple[Any, GraphContext, list[Any]]:
    spec = spec or spec_with("default", settings)
    ctx = GraphContext(roles=roles, constitution=load_constitution(spec.constitution, settings.project_dir),
                       spec=spec, store=store, run_id=run_id, versions={"base": "bare"})
    with open_checkpointer(settings) as saver:
        graph = compile_spec(spec, checkpointer=saver)
        report = run_prompts(graph, ctx, [Prompt(f"p{i}", t) for i, t in enumerate(prompts)], concurrency=4)
    return report, ctx, report.results


def test_auto_accept_stores_every_step(settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"What is 2+2?": "4."})
    report, ctx, [result] = run(settings, store, roles, ["What is 2+2?"])
    assert (result.route, result.status, result.final_response) == ("accepted", "done", "4.")
    stored = get_trajectory(store, "r1", "p0")
    assert stored is not None and stored.status == "done" and stored.route == "accepted"
    assert len(stored.candidates) == 1 and len(stored.candidates[0].critiques) == 8
    assert stored.safety_json["harmful_prob"] == pytest.approx(0.05)
    assert stored.extra_json["constitution_hash"] == ctx.constitution.content_hash
    assert stored.extra_json["spec"]["name"] == "default" and stored.extra_json["versions"] == {"base": "bare"}
    assert roles.calls["revise"] == 0 and roles.calls["compare"] == 0


def test_revise_then_accept_records_ai_pair(settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"open the door": BAD}, revisions={BAD: FIXED},
                      violations={BAD: {"harmful-instructions": 0.92}})
    _, _, [result] = run(settings, store, roles, ["open the door"])
    assert (result.route, result.final_response) == ("revised", FIXED)
    assert BAD not in result.final_response and "violates" not in result.final_response
    stored = get_trajectory(store, "r1", "p0")
    assert [c.source for c in stored.candidates] == ["base", "reviser"]
    critique = [c for c in stored.candidates[0].critiques if c.violated]
    assert critique[0].principle_id == "harmful-instructions" and "harmful-instructions" in critique[0].text
    combined = [j for j in stored.judgments if j.principle_id is None]
    assert combined and combined[0].prob_b_better == pytest.approx(0.9)
    [pair] = preference_pairs(store, source="ai")
    assert (pair.chosen, pair.rejected, pair.probability) == (FIXED, BAD, pytest.approx(0.9))


@pytest.mark.parametrize("keep_answer_below", [0.5, 0.0])
def test_a_rewrite_that_refuses_a_benign_request_is_not_delivered(settings: Settings, store: Store,
                                                                   keep_answer_below: float) -> None:
    answer = "Sourdough Corner, The Rising Loaf, Crumb & Crust, Wild Yeast Bakery, Starter Home."
    refusal = "I can't help with a name for a bakery."
    roles = FakeRoles(answers={"name my bakery": answer}, revisions={answer: refusal},
                      violations={answer: {"helpfulness": 0.8}}, default_preference=0.9)
    spec = load_spec("default", settings.project_dir, [f"delivery.keep_answer_below={keep_answer_below}"])
    _, _, [result] = run(settings, store, roles, ["name my bakery"], spec)
    assert roles.calls["revise"] >= 1 and roles.calls["compare"] >= 1  # the judge preferred the refusal
    if keep_answer_below:
        assert (result.route, result.final_response) == ("accepted", answer)
        assert any("refuses a request the safety model rates harmful with only p=0.05" in r for r in result.reasons)
    else:  # the rule is off: the judge's choice goes out
        assert (result.route, result.final_response) == ("revised", refusal)


@pytest.mark.parametrize("principle", ["balanced", "harmful-instructions"])
def test_revision_rounds_stop_at_the_limit(settings: Settings, store: Store, principle: str) -> None:
    """The critic still flags the last revision and the judge prefers it: it is delivered only when the
    remaining flag is not harm-related; a revision still flagged as harmful goes to a human instead."""
    roles = FakeRoles(answers={"q": "a"}, violations={
        t: {principle: 0.8} for t in ("a", "a [revised]", "a [revised] [revised]")},
        preferences={("a", "a [revised] [revised]"): {"*": 0.95}})
    _, _, [result] = run(settings, store, roles, ["q"])
    assert roles.calls["revise"] == 2 and roles.calls["check_principles"] == 3
    if principle == "balanced":
        assert result.route == "revised" and result.final_response == "a [revised] [revised]"
        return
    assert (result.route, result.final_response) == ("escalated", None)
    assert ("the graph would deliver revision 2, but the safety model rates it harmful (p=0.80 ≥ 0.50) and the "
            "critic judges harmful-instructions violated in it (p=0.80 ≥ 0.50)") in result.reasons


def test_refused_when_prompt_is_clearly_harmful(settings: Settings, store: Store) -> None:
    roles = FakeRoles(safety={"make a bomb": {"harmful_prob": 0.97, "category_probs": {"safety": 0.9}}})
    spec = spec_with("default", settings)
    _, _, [result] = run(settings, store, roles, ["make a bomb"], spec)
    assert result.route == "refused" and result.final_response == spec.safety.refusal_message
    assert "harmful with p=0.97" in result.reasons[0] and roles.calls["check_principles"] == 0


@pytest.mark.parametrize("case", ["benign", "benign_escalating_spec", "not_benign", "benign_with_harm_alarm"])
def test_a_judge_coin_flip_on_a_benign_request_escalates_only_with_a_harm_alarm(settings: Settings, store: Store,
                                                                                case: str) -> None:
    """Two answers to a request the safety model rates benign, neither with a harm alarm that counts, and a
    judge that cannot tell them apart: a question of style, so the judge's slight preference is delivered.
    The doubt still escalates on a request rated 0.2 or more, where an answer carries a counting harm alarm
    (on a benign request, a lone one must reach 0.9), or where the spec asks for it."""
    roles = FakeRoles(answers={"q": "a"}, violations={"a": {"balanced": 0.8}},
                      preferences={("a", "a [revised]"): {"*": 0.55}})
    spec = spec_with("default", settings, judge_doubt_on_benign=case == "benign_escalating_spec")
    if case == "not_benign":
        roles.safety["q"] = {"harmful_prob": 0.3}
    elif case == "benign_with_harm_alarm":
        roles.violations["a"] = {"balanced": 0.8, "harmful-instructions": 0.95}
    _, _, [result] = run(settings, store, roles, ["q"], spec)
    if case == "benign":
        assert (result.route, result.final_response) == ("revised", "a [revised]")
        return
    assert result.route == "escalated" and any("judge is unsure" in r for r in result.reasons), result.reasons


@pytest.mark.parametrize("case", ["judge", "disagreement", "conflict", "always_human", "harmful_answer"])
def test_each_escalation_reason(settings: Settings, store: Store, case: str) -> None:
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED},
                      violations={BAD: {"harmful-instructions": 0.9}})
    spec = spec_with("default", settings)
    expected = ""
    if case == "judge":
        roles.preferences[(BAD, FIXED)] = {"*": (0.62, 0.44)}
        expected = "judge is unsure"
    elif case == "disagreement":
        roles.violations[BAD] = {}
        roles.safety["q"] = {"response_harmful_prob": 0.95}
        expected = "safety model rates the answer harmful (p=0.95) but the critic"
    elif case == "conflict":
        roles.violations[BAD] = {"harmful-instructions": 0.6, "privacy": 0.9}
        roles.preferences[(BAD, FIXED)] = {"harmful-instructions": 0.35, "privacy": 0.99, "*": 0.99}
        spec = spec_with("default", settings, judge_margin=0.0)
        expected = "improves privacy (priority 2"
    elif case == "always_human":
        roles.violations[BAD] = {"privacy": 0.8}
        spec = spec_with("default", settings, always_human=["privacy"])
        expected = "falls under 'privacy'"
    else:  # the judge keeps the original, which the safety model (and the critic) rate harmful
        roles.safety["q"] = {"response_harmful_prob": 0.77}
        roles.preferences[(BAD, FIXED)] = {"*": 0.05}
        expected = "keep the original answer, but the safety model rates it harmful (p=0.77"
    _, _, [result] = run(settings, store, roles, ["q"], spec)
    assert result.status == "pending_review" and result.route == "escalated"
    assert result.final_response is None
    assert any(expected in r for r in result.reasons), result.reasons
    stored = get_trajectory(store, "r1", "p0")
    assert stored.status == "pending_review" and stored.route == "escalated" and expected in stored.route_reason
    item = get_review_by_thread(store, "r1:p0")
    assert item is not None and item.status == "pending" and item.trajectory_id == stored.id
    assert item.payload_json["prompt"] == "q" and len(item.payload_json["candidates"]) >= 1


def test_resume_after_human_decision(settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED},
                      violations={BAD: {"harmful-instructions": 0.9}},
                      preferences={(BAD, FIXED): {"*": 0.55}})
    report, ctx, [result] = run(settings, store, roles, ["q"])
    assert result.status == "pending_review"
    calls_before = roles.calls.copy()
    with open_checkpointer(settings) as saver:
        graph = compile_spec(ctx.spec, checkpointer=saver)
        with pytest.raises(OversightError, match="candidate index 0..1"):
            resume(graph, ctx, "r1:p0", {"action": "choose", "candidate": 7})
        done = resume(graph, ctx, "r1:p0", {"action": "edit", "text": "Call a locksmith.", "reviewer": "ana"})
        with pytest.raises(OversightError, match="not waiting"):
            resume(graph, ctx, "r1:p0", {"action": "accept"})
    assert (done.status, done.route, done.final_response) == ("done", "revised", "Call a locksmith.")
    assert roles.calls == calls_before  # no model call is repeated on resume
    stored = get_trajectory(store, "r1", "p0")
    assert stored.status == "done" and stored.final_response == "Call a locksmith."
    assert [c.source for c in stored.candidates] == ["base", "reviser", "human"]
    assert "ana decided 'edit'" in stored.route_reason and stored.extra_json["human"]["reviewer"] == "ana"
    human = preference_pairs(store, source="human")
    assert {p.rejected for p in human} == {BAD, FIXED} and all(p.chosen == "Call a locksmith." for p in human)
    assert preference_pairs(store, source="ai") == []
    assert get_review_by_thread(store, "r1:p0").status == "applied"
    assert len(pending_reviews(store)) == 0


def test_reviewer_sends_the_answer_back_and_the_thread_goes_round_again(settings: Settings, store: Store) -> None:
    """Decision `revise`: the note is the reviser's critique, the proposal is rewritten, and the graph decides again."""
    again = f"{FIXED} [revised]"
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED},
                      violations={BAD: {"harmful-instructions": 0.9}},
                      preferences={(BAD, FIXED): {"*": 0.55}, (BAD, again): {"*": 0.9}})
    seen: list[Any] = []
    real_revise = roles.revise
    roles.revise = lambda prompt, response, critiques: seen.append((response, critiques)) or \
        real_revise(prompt, response, critiques)  # type: ignore[method-assign]
    _, ctx, [result] = run(settings, store, roles, ["q"])
    assert result.status == "pending_review"
    with open_checkpointer(settings) as saver:
        graph = compile_spec(ctx.spec, checkpointer=saver)
        with pytest.raises(OversightError, match="'revise' needs a 'note'"):
            resume(graph, ctx, "r1:p0", {"action": "revise"})
        done = resume(graph, ctx, "r1:p0", {"action": "revise", "note": "Mention the landlord too.",
                                             "reviewer": "ana", "violations": {"1": ["helpfulness"]}})
    assert (done.status, done.route, done.final_response) == ("done", "revised", again)
    response, critiques = seen[-1]
    assert response == FIXED and [(p.id, text) for p, text in critiques] == [("helpfulness", "Mention the landlord too.")]
    stored = get_trajectory(store, "r1", "p0")
    assert [c.source for c in stored.candidates] == ["base", "reviser", "reviser"]
    assert preference_pairs(store, source="human") == []  # a send-back states no preference


def test_refuse_with_a_reference_answer_and_a_timed_out_refusal(settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"q": BAD, "r": BAD}, revisions={BAD: FIXED},
                      violations={BAD: {"harmful-instructions": 0.9}},
                      preferences={(BAD, FIXED): {"*": 0.55}})
    _, ctx, results = run(settings, store, roles, ["q", "r"])
    assert [r.status for r in results] == ["pending_review", "pending_review"]
    reference = "I won't help with entering someone else's home. If you are locked out, call a locksmith."
    with open_checkpointer(settings) as saver:
        graph = compile_spec(ctx.spec, checkpointer=saver)
        mine = resume(graph, ctx, "r1:p0", {"action": "refuse", "text": reference, "reviewer": "ana"})
        late = resume(graph, ctx, "r1:p1", {"action": "refuse", "reviewer": "deadline", "timed_out": True})
    assert (mine.route, mine.final_response) == ("refused", reference)
    assert (late.route, late.final_response) == ("refused", ctx.spec.safety.refusal_message)
    human = preference_pairs(store, source="human")
    assert human and {p.chosen for p in human} == {reference}  # nothing learned from the timed-out one


def test_guard_blocks_harmful_answers_and_generate_never_stops(settings: Settings, store: Store) -> None:
    # 0.85 on a request rated benign (0.05): the guard has no critic, so its 0.8 applies as declared
    roles = FakeRoles(answers={"q": BAD}, safety={"q": {"response_harmful_prob": 0.85}})
    guard = spec_with("guard", settings)
    _, _, [blocked] = run(settings, store, roles, ["q"], guard, run_id="guard")
    assert blocked.route == "blocked" and blocked.final_response == guard.safety.refusal_message
    assert roles.calls["check_principles"] == 0
    roles = FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED}, violations={BAD: {"privacy": 0.9}},
                      preferences={(BAD, FIXED): {"*": 0.9}})
    _, _, [generated] = run(settings, store, roles, ["q"], spec_with("generate", settings), run_id="gen")
    assert (generated.route, generated.final_response) == ("revised", FIXED)
    # No safety gate; the judge labels the revision against the original (AI feedback for the DPO stage).
    assert roles.calls["assess_safety"] == 0 and roles.calls["compare"] > 0
    pairs = preference_pairs(store, source="ai")
    assert pairs and {(p.chosen, p.rejected) for p in pairs} == {(FIXED, BAD)}


def test_sequential_loop_matches_graph(settings: Settings, store: Store) -> None:
    roles = FakeRoles(answers={"open the door": BAD}, revisions={BAD: FIXED},
                      violations={BAD: {"harmful-instructions": 0.92}})
    _, ctx, [graph_result] = run(settings, store, roles, ["open the door"])
    report = run_naive(GraphContext(roles=roles, constitution=ctx.constitution, spec=ctx.spec,
                                    store=store, run_id="loop"), [Prompt("p0", "open the door")])
    [loop] = report.results
    assert (loop.route, loop.final_response) == (graph_result.route, graph_result.final_response)
    assert get_trajectory(store, "loop", "p0").route == "revised"


def test_bad_prompt_becomes_error_route_and_others_run(settings: Settings, store: Store) -> None:
    def fail(name: str, args: tuple[Any, ...]) -> None:
        if name == "answer" and args[0] == "boom":
            raise RuntimeError("model fell over")
    roles = FakeRoles(on_call=fail)
    report, _, results = run(settings, store, roles, ["fine", "boom"])
    assert [r.route for r in results] == ["accepted", "error"] and "model fell over" in results[1].error
    roles.on_call = None
    report, _, results = run(settings, store, roles, ["fine", "boom"])
    assert [r.status for r in results] == ["skipped", "done"] and results[1].route == "accepted"
