"""Is a revision a real rewrite? Cheap text checks shared by training reports and tests.

The failure this guards against, measured on the untrained small model: asked
to revise, it repeats the critique ("The response violates...") or the draft.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")
REFUSAL_MARKERS = ("can't", "cannot", "won't", "will not", "not able to", "unable to", "i'm sorry",
                   "i am sorry", "can not", "not going to", "i don't", "don't help", "instead")
CRITIQUE_OPENERS = ("the response", "this response", "the draft", "the answer", "critique")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower().replace("\u2019", "'")))


def overlap(a: str, b: str) -> float:
    """Jaccard similarity of word sets."""
    wa, wb = words(a), words(b)
    return len(wa & wb) / len(wa | wb) if wa | wb else 1.0


def restates_critique(revision: str, critique: str) -> bool:
    text = revision.strip().lower()
    return text.startswith(CRITIQUE_OPENERS) or overlap(revision, critique) >= 0.5


def is_rewrite(revision: str, draft: str, critique: str) -> bool:
    """Non-empty, not the critique said again, and not the draft returned unchanged."""
    return (len(words(revision)) >= 5 and not restates_critique(revision, critique)
            and overlap(revision, draft) < 0.8)


def is_refusal(text: str) -> bool:
    low = text.lower().replace("\u2019", "'")
    return any(marker in low for marker in REFUSAL_MARKERS)
