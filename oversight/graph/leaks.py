"""Internal text never reaches the user: the run-time check of a revision, shared with the tests.

The reviser's output becomes a candidate directly, so a "revision" that is
empty, repeats its draft, restates the critique or the principle it was given,
or talks about the oversight process itself is rejected here (`revise` records
it and the thread goes round again). Tests run the same check over every
stored final response and candidate.

Tokenisation, defined once (`words`): lower-cased runs of letters and digits,
an apostrophe inside a word kept ("don't" is one word); everything else
separates words. A span is `SPAN_WORDS` consecutive words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from oversight.constitution import Principle

SPAN_WORDS = 8
RETRY_NOTE = "(An earlier rewrite repeated this note or was empty: write only the answer the user should read.)"
"""Added to the critiques when a draft's rewrite was rejected: greedy decoding would repeat it otherwise."""
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

# Phrases that only talk about the oversight machinery. Each has a key term: when the user's own
# prompt uses that term ("critique my essay", "what does the constitution say"), the phrase is fair
# game in an answer and does not count. Bare words such as "principle" never count on their own.
_META: tuple[tuple[str, re.Pattern[str]], ...] = tuple((term, re.compile(rx, re.IGNORECASE)) for term, rx in (
    ("critic", r"\bthe critic\b|\bcritic's\b|\bcritics? (?:says?|said|notes?|noted|flagged|found|points? out)\b"),
    ("critique", r"\b(?:the|this|that|your|my|above|given|previous|safety) critiques?\b|\bcritiques?\s*:"),
    ("principle", r"\bprinciples?\s*[(:]|\b(?:violat\w*|breach\w*|break\w*|against|per|under|follow\w*|"
                  r"according to|respect\w*) (?:the |this |that |my |our |these |those )?(?:constitutional |"
                  r"stated |given |above )?principles?\b(?! of)"),
    ("constitution", r"\b(?:the|my|our|this) constitution (?:says|states|requires|asks|forbids|tells)\b|"
                     r"\bconstitutional (?:principles?|rules?|guidelines?|ai)\b"),
    ("draft", r"\bdraft response\b"),
    ("revision request", r"\brevision request\b"),
    ("improved response", r"\b(?:improved|revised|rewritten) (?:response|answer|version)\b"),
    ("original response", r"\b(?:the|this) (?:original|previous) response\b"),
    # A critique said again, as the untrained reviser does (see train/rewrite_checks.py).
    ("the response", r"^\s*(?:the|this) (?:draft |original |previous )?response (?:violates|breaks|fails|does not|"
                     r"doesn't|should|could be|is (?:harmful|unsafe|inappropriate|problematic))"),
))


def words(text: str) -> list[str]:
    """The one tokenisation of the leak check: lower-cased words (see the module docstring)."""
    return _WORD.findall(text.lower())


def _spans(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def shared_span(text: str, other: str, *, own: Iterable[str] = (), n: int = SPAN_WORDS) -> str | None:
    """The first run of `n` words of `text` that `other` contains too, else None.

    Runs that also occur in `own` (the user's prompt, the draft being revised) do not count: a
    critique may quote the draft, and a revision may keep the draft's own sentence.
    """
    theirs = _spans(words(other), n)
    if not theirs:
        return None
    for mine in own:
        theirs -= _spans(words(mine), n)
    tokens = words(text)
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i:i + n]) in theirs:
            return " ".join(tokens[i:i + n])
    return None


def meta_mentions(text: str, prompt: str = "") -> list[str]:
    """Phrases of `text` about the critic, critique, principles or constitution (unless the prompt uses them)."""
    asked = prompt.lower()
    found = []
    for term, pattern in _META:
        match = pattern.search(text)
        if match and term not in asked:
            found.append(match.group(0))
    return found


def principle_mentions(text: str, principles: Iterable[Principle], prompt: str = "") -> list[str]:
    """Principle ids named in `text`: hyphenated ids anywhere, any id written as '(id)' as in the prompts."""
    asked = prompt.lower()
    found = []
    for p in principles:
        pid = re.escape(p.id)
        rx = rf"\b{pid}\b" if "-" in p.id else rf"\(\s*{pid}\s*\)"
        match = re.search(rx, text, re.IGNORECASE)
        if match and p.id.lower() not in asked:
            found.append(match.group(0))
    return found


def leak_reasons(text: str, *, prompt: str, internal: Sequence[tuple[str, str]],
                 principles: Iterable[Principle] = (), own: Sequence[str] = (),
                 draft: str | None = None) -> list[str]:
    """Why `text` must not reach the user, in words; empty when it may.

    `internal` is (what it is, its text): the critiques and principle texts the writer saw.
    `own` is text the writer may repeat (the draft, earlier answers); the prompt always counts as own.
    """
    if not words(text):
        return ["it is empty"]
    reasons = []
    if draft is not None and words(text) == words(draft):
        reasons.append("it repeats the draft unchanged")
    mine = [prompt, *own]
    for label, other in internal:
        span = shared_span(text, other, own=mine)
        if span:
            reasons.append(f"it repeats {SPAN_WORDS} or more words of {label} (\"{span}\")")
    named = meta_mentions(text, prompt) + principle_mentions(text, principles, prompt)
    if named:
        reasons.append("it talks about the oversight process (" + ", ".join(f"\"{m}\"" for m in named) + ")")
    return reasons


def principle_texts(principle: Principle) -> list[tuple[str, str]]:
    """The texts of a principle a critic or reviser is shown, labelled for a reason sentence."""
    return [(f"the principle {principle.id}", principle.text),
            (f"the critique request of {principle.id}", principle.critique_request),
            (f"the revision request of {principle.id}", principle.revision_request)]



def check_revision(text: str, *, prompt: str, draft: str, critiques: Sequence[tuple[Principle, str]],
                   principles: Sequence[Principle], earlier: Sequence[str] = ()) -> list[str]:
    """Why a reviser's output may not become a candidate (empty: it may).

    It must differ from its draft and share no span with the critiques it was given or with any
    principle's texts, beyond what the prompt, the draft and `earlier` answers already say.
    """
    internal = [(f"its critique ({p.id})", c) for p, c in critiques]
    for p in principles:
        internal += principle_texts(p)
    return leak_reasons(text, prompt=prompt, internal=internal, principles=principles,
                        own=[draft, *earlier], draft=draft)


def trajectory_leaks(prompt: str, candidates: Sequence[dict[str, Any]], final_response: str | None,
                     principles: Sequence[Principle], notes: Sequence[str] = ()) -> list[str]:
    """The leak check over one stored trajectory: every model-written candidate and the final response.

    Candidates are dicts (index, source, text, critiques [{principle_id, text}]); `notes` are other
    internal texts a reviser may have seen (the middle-band critique, reviewers' notes). A
    candidate is checked against the critiques of the candidates before it and every principle;
    a final response that is no model candidate (a reviewer's text) against all of them.
    """
    model = sorted((c for c in candidates if c.get("source") in ("base", "reviser")), key=lambda c: c["index"])
    internal_base = [t for p in principles for t in principle_texts(p)]
    found: list[str] = []

    def critiques_of(cands: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(f"the critique of candidate {c['index']} ({k['principle_id']})", k["text"])
                for c in cands for k in c.get("critiques", []) if k.get("text")]

    notes_internal = [("an internal note", n) for n in [*notes, RETRY_NOTE]]
    for cand in model:
        earlier = [c for c in model if c["index"] < cand["index"]]
        internal = internal_base + critiques_of(earlier) + (notes_internal if cand["index"] else [])
        reasons = leak_reasons(cand["text"], prompt=prompt, internal=internal, principles=principles,
                               own=[c["text"] for c in earlier])
        found += [f"candidate {cand['index']}: {r}" for r in reasons]
    if final_response is not None and final_response not in {c["text"] for c in model}:
        everything = internal_base + critiques_of(model) + notes_internal
        reasons = leak_reasons(final_response, prompt=prompt, internal=everything, principles=principles,
                               own=[c["text"] for c in model])
        found += [f"final response: {r}" for r in reasons]
    return found
