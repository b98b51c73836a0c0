"""Rules about what is delivered: the middle band of request harm and the check of the final candidate.

Like `rules.py`, each rule is a pure function of the state, the constitution
and the spec that returns a sentence a reviewer can read, or None; the scores
they read are in the state (each candidate's `response_harmful_prob` and
critiques), so a calibration can replay them offline with other thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from oversight.classify import classify
from oversight.constitution import Constitution, Principle
from oversight.graph.leaks import SPAN_WORDS, shared_span
from oversight.graph.spec import GraphSpec
from oversight.graph.state import State


@lru_cache(maxsize=8192)
def _label(prompt: str, text: str) -> str:
    """The rules classifier's label, cached: a calibration replays the decision over thousands of settings
    for the same stored answers, and the classifier was a third of that time."""
    return classify(prompt, text)


def middle_band(safety: dict[str, Any] | None, spec: GraphSpec) -> str | None:
    """The request is rated harmful, but below the block threshold: its answer may not go out unchecked."""
    if not safety:
        return None
    p, low, high = safety["harmful_prob"], spec.safety.harmful_threshold, spec.safety.block_threshold
    if not low <= p < high:
        return None
    category = f" (most likely category: {safety['top_category']})" if safety.get("top_category") else ""
    return (f"the safety model rates the request harmful with p={p:.2f}{category}, at or above {low:.2f} "
            f"but below the block threshold {high:.2f}")


def original_declines(state: State) -> bool:
    """The original answer is a plain refusal (the rules classifier, `oversight/classify.py`, labels it
    `refuse`: a refusal with no content after it). In the middle band there is then nothing to revise
    toward a refusal: rewriting it would cost a critique and a rewrite and could only add content.
    A refusal followed by help is labelled `partial`, not `refuse`, and is revised as before."""
    candidates = state.get("candidates", [])
    return bool(candidates) and _label(state.get("prompt", ""), candidates[0]["text"]) == "refuse"


def reasks(state: State, spec: GraphSpec) -> bool:
    """The original only declines a request the safety model rates benign (below revision.reask_below),
    and no second answer was asked for yet.

    The bare model flatly declines a few benign requests (5 of the safety material's 311 in a probe of
    2026-12-07), and the trained reviser, given a helpfulness critique, mostly declines again; the base
    model asked once more under another system prompt engaged with them. The second answer still goes
    through the critic, the judge and the delivery check."""
    limit = spec.revision.reask_below
    return bool(limit) and spec.has("revise") and len(state.get("candidates", [])) == 1 \
        and request_risk(state) < limit and original_declines(state)


def band_requires_revision(state: State, spec: GraphSpec) -> bool:
    """A middle-band request the spec answers by revising: the original may not go out, only a
    revision toward a safe answer (unless the original already declines)."""
    return spec.safety.middle_band == "revise" and middle_band(state.get("safety"), spec) is not None \
        and not original_declines(state)


def band_revises(state: State, spec: GraphSpec) -> bool:
    """Whether this thread is a middle-band request the spec answers by revising toward a safe answer."""
    return spec.has("revise") and band_requires_revision(state, spec)


def band_refuses(state: State, spec: GraphSpec) -> bool:
    """Whether this thread is a middle-band request the spec refuses (escalate refuses without escalation)."""
    mode = spec.safety.middle_band
    return middle_band(state.get("safety"), spec) is not None and (
        mode == "refuse" or (mode == "escalate" and not spec.escalation.enabled))


def band_principle(state: State, constitution: Constitution, spec: GraphSpec) -> Principle:
    """The principle the band's safety critique is written against: the request's most likely harm
    category (by the safety model), else the highest-priority harm-related principle."""
    harm = [p for p in constitution.by_priority() if p.category in spec.escalation.harm_categories] \
        or list(constitution.by_priority())
    top = (state.get("safety") or {}).get("top_category")
    return next((p for p in harm if p.category == top), harm[0])


def response_harm(state: State, index: int) -> float | None:
    """The safety model's response-harmful probability of candidate `index` (None: not scored).

    The base answer's score comes from the safety node; older states only have it there.
    """
    candidates = state.get("candidates", [])
    cand = candidates[index] if 0 <= index < len(candidates) else {}
    p = cand.get("response_harmful_prob")
    if p is None and index == 0:
        p = (state.get("safety") or {}).get("response_harmful_prob")
    return p


def request_risk(state: State) -> float:
    """The higher of the safety model's harmful and jailbreak probabilities for the request; 1 without a
    safety verdict, so an unrated request never counts as benign."""
    safety = state.get("safety")
    if not safety:
        return 1.0
    return max(safety.get("harmful_prob", 1.0), safety.get("jailbreak_prob", 0.0))


def benign_request(state: State, spec: GraphSpec) -> bool:
    """The safety model rates the request harmful and jailbreak below `delivery.benign_request_below`."""
    return request_risk(state) < spec.delivery.benign_request_below


def harm_critiques(candidate: dict[str, Any], constitution: Constitution, spec: GraphSpec) -> list[dict[str, Any]]:
    """The candidate's critic verdicts on principles of `escalation.harm_categories` (those compared with
    the safety model)."""
    # by id, not constitution.principle() per critique: a calibration replays this millions of times
    harm = {p.id for p in constitution.principles if p.category in spec.escalation.harm_categories}
    return [c for c in candidate.get("critiques") or [] if c["principle_id"] in harm]


def lone_alarm_floor(state: State, spec: GraphSpec) -> float:
    """The probability a lone answer-level harm alarm must reach on this request: `delivery.benign_request_alarm`
    on a benign request, else 0. Measured on the calibration set, most answer alarms on everyday requests were
    one read-out firing alone, while the harmful requests that only the answer checks caught all had a
    request score of 0.25 or more."""
    return spec.delivery.benign_request_alarm if benign_request(state, spec) else 0.0


def alarm_level(state: State, spec: GraphSpec, declared: float, corroborated: Callable[[], bool]) -> float:
    """The probability an answer-level harm alarm must reach: the declared one, or the lone-alarm floor
    where that is higher and the other model raised no alarm in this thread (`corroborated`, asked only
    then: a calibration replays this for every setting)."""
    floor = lone_alarm_floor(state, spec)
    return declared if floor <= declared or corroborated() else floor


def _safety_alarm(state: State, spec: GraphSpec) -> bool:
    """The safety model rates some answer of this thread harmful at the declared threshold."""
    return any((response_harm(state, c["index"]) or 0.0) >= spec.delivery.response_harmful
               for c in state.get("candidates", []))


def _critic_alarm(state: State, constitution: Constitution, spec: GraphSpec) -> bool:
    """The critic judges a harm-related principle violated in some answer of this thread (declared threshold)."""
    return any(c["violation_prob"] >= spec.delivery.critic_harm
               for cand in state.get("candidates", []) for c in harm_critiques(cand, constitution, spec))


def counted_alarm(state: State, constitution: Constitution, spec: GraphSpec) -> bool:
    """Some answer of this thread carries a harm alarm that counts: the delivery check would stop it."""
    return any(delivered_harm(state, i, constitution, spec) for i in range(len(state.get("candidates", []))))


def judge_doubt_counts(state: State, constitution: Constitution, spec: GraphSpec) -> bool:
    """Whether a judge coin flip escalates this thread. On a benign request where no answer carries a harm
    alarm that counts, the doubt is about which answer is better written, not about harm, and the judge's
    slight preference decides (unless `escalation.judge_doubt_on_benign`). Measured on the calibration set,
    a coin flip between two answers to "what is the legal alcohol limit for driving" was a benign escalation."""
    return spec.escalation.judge_doubt_on_benign or not benign_request(state, spec) \
        or counted_alarm(state, constitution, spec)


def delivered_harm(state: State, index: int | None, constitution: Constitution, spec: GraphSpec) -> str | None:
    """The candidate the graph would deliver is rated harmful by the safety model or the critic."""
    candidates = state.get("candidates", [])
    if index is None or not 0 <= index < len(candidates):
        return None
    found = []
    p = response_harm(state, index)
    response_level = alarm_level(state, spec, spec.delivery.response_harmful,
                                 corroborated=lambda: _critic_alarm(state, constitution, spec))
    if p is not None and p >= response_level:
        found.append(f"the safety model rates it harmful (p={p:.2f} ≥ {response_level:.2f})")
    critic_level = alarm_level(state, spec, spec.delivery.critic_harm,
                               corroborated=lambda: _safety_alarm(state, spec))
    harm = [c for c in harm_critiques(candidates[index], constitution, spec) if c["violation_prob"] >= critic_level]
    if harm:
        worst = max(harm, key=lambda c: c["violation_prob"])
        found.append(f"the critic judges {worst['principle_id']} violated in it "
                     f"(p={worst['violation_prob']:.2f} ≥ {critic_level:.2f})")
    copied = _copied_harm(state, index, response_level, spec)
    if copied:
        found.append(copied)
    if not found:
        return None
    which = "keep the original answer" if index == 0 else f"deliver revision {index}"
    return f"the graph would {which}, but " + " and ".join(found)


@lru_cache(maxsize=8192)
def _copied_span(revision: str, original: str, prompt: str) -> str | None:
    """A run of the original's words that the revision repeats (the request's words are no copy), cached
    like `_label`: a calibration asks this for the same stored texts under every setting."""
    return shared_span(revision, original, own=(prompt,))


def _copied_harm(state: State, index: int, level: float, spec: GraphSpec) -> str | None:
    """Revision `index` is not a plain refusal and repeats a run of the original's words, and the safety
    model rates the original harmful at `level` (`delivery.copied_harm`)."""
    original = response_harm(state, 0)
    if not spec.delivery.copied_harm or index == 0 or original is None or original < level:
        return None
    candidates, prompt = state["candidates"], state.get("prompt", "")
    if _label(prompt, candidates[index]["text"]) == "refuse":
        return None
    span = _copied_span(candidates[index]["text"], candidates[0]["text"], prompt)
    if span is None:
        return None
    return (f"it repeats {SPAN_WORDS} or more words of the original answer (\"{span}\"), which the safety "
            f"model rates harmful (p={original:.2f} ≥ {level:.2f})")


def needless_refusals(state: State, constitution: Constitution, spec: GraphSpec) -> dict[int, str]:
    """Revisions that refuse (the rules classifier's `refuse`: a refusal with nothing after it) a request
    the safety model rates benign, although the original answers it and would pass the delivery check;
    each with the reason it is not delivered.

    The reviser is trained to decline harmful requests and sometimes declines everyday ones too ("I can't
    help with the name, but..."), and the judge does not always rank such a rewrite below the answer. A
    refusal of a benign request is a failure of its own. Where the critic's harm principles or the safety
    model flag the original, the refusal may be the fix, and it stays a candidate."""
    limit = spec.delivery.keep_answer_below
    candidates = state.get("candidates", [])
    if not limit or len(candidates) < 2 or request_risk(state) >= limit:
        return {}
    safety = state["safety"]  # request_risk is 1 without one, so it is there
    if original_declines(state) or delivered_harm(state, 0, constitution, spec):
        return {}
    return {c["index"]: (f"revision {c['index']} refuses a request the safety model rates harmful with only "
                         f"p={safety['harmful_prob']:.2f} (< {limit:.2f}), while the original answers it")
            for c in candidates[1:] if _label(state.get("prompt", ""), c["text"]) == "refuse"}


def rejected_revisions(state: State) -> list[str]:
    """One sentence per revision the leak check threw away (they never became candidates)."""
    def whose(r: dict[str, Any]) -> str:
        return "the base model's second answer" if r.get("by") == "base" else "the reviser's rewrite"
    return [f"{whose(r)} in round {r['round']} was rejected: {'; '.join(r['reasons'])}"
            for r in state.get("rejected_revisions", [])]


def reasked_note(state: State, spec: GraphSpec) -> str | None:
    """Why candidate 1 is the base model's own second answer (`reasks`), if it is."""
    candidates = state.get("candidates", [])
    if len(candidates) < 2 or candidates[1].get("source") != "base":
        return None
    return (f"the original only declines a request the safety model rates harmful and jailbreak below "
            f"{spec.revision.reask_below:.2f}, so the base model answered again as candidate 1 "
            f"(system prompt: revision.reask_system_prompt)")


def last_rejected(state: State) -> dict[str, Any] | None:
    """The rejected revision of the newest round, if that round's rewrite was rejected."""
    rejected = state.get("rejected_revisions", [])
    return rejected[-1] if rejected and rejected[-1]["round"] == state.get("round", 0) else None
