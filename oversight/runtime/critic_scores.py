"""The critic head's violation probabilities: one read-out per principle where the head has one.

A single read-out over "request + response + principle" chats learns "this answer is bad" rather
than "this answer breaks *this* principle" (measured: a harmful answer scored 0.75-0.93 under every
principle). A per-principle read-out is one weight vector per principle over the features of the
exchange alone: the principle chooses the weights, not a sentence in the chat, and each read-out is
trained with the other principles' answers as its negatives (held-out macro AUROC 0.52 -> 0.89; it
still flags some answers under more than one principle). It also reads each answer once instead of
once per principle.

A principle the head has no read-out for (a constitution that adds one), or whose text changed since
the head was trained, falls back to the shared read-out over the verdict chat, which reads the text.
Training (train/head_trainer.py), the graph (runtime/roleset.py) and the trust figures
(train/trust_eval.py) all score through `violation_probs`, so they agree on the route.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from oversight.constitution import Principle
from oversight.errors import OversightError
from oversight.runtime.heads import Head
from oversight.runtime.ops import Chat
from oversight.runtime.prompts import PromptBook

VIOLATION = "violation"  # the shared read-out over verdict chats
READOUT_SEP = "@"        # a per-principle read-out is named "violation@<principle id>"

Features = Callable[[list[Chat], list[dict[str, str]]], np.ndarray]


def readout_name(principle_id: str) -> str:
    """The head output that holds `principle_id`'s own read-out."""
    return f"{VIOLATION}{READOUT_SEP}{principle_id}"


def principle_readout(head: Head, principle: Principle) -> str | None:
    """The output scoring `principle` on exchange features, or None (use the shared verdict read-out).

    A read-out trained under another wording of the principle is not used: its weights learnt what
    that wording meant in the material, and the shared read-out at least reads the new text.
    """
    out = head.spec.outputs.get(readout_name(principle.id))
    if out is None or out.kind != "binary" or out.principle_text != principle.text:
        return None
    return readout_name(principle.id)


def violation_probs(head: Head, book: PromptBook, principles: Sequence[Principle],
                    exchanges: Sequence[tuple[str, str]], features: Features) -> np.ndarray:
    """P(violation) of each (prompt, response) under each principle: an array [exchanges, principles]."""
    out = np.zeros((len(exchanges), len(principles)), dtype=np.float64)
    if not exchanges or not principles:
        return out
    fields = [{"prompt": prompt, "response": response} for prompt, response in exchanges]
    readouts = [principle_readout(head, p) for p in principles]
    own = [j for j, name in enumerate(readouts) if name is not None]
    if own:
        feats = features([book.critic_exchange(p, r) for p, r in exchanges], fields)
        for j in own:
            out[:, j] = head.binary(readouts[j], feats)  # type: ignore[arg-type]
    rest = [j for j, name in enumerate(readouts) if name is None]
    if rest:
        if VIOLATION not in head.spec.outputs:
            missing = ", ".join(principles[j].id for j in rest)
            raise OversightError(f"the critic head has no read-out for principle(s) {missing} (trained on other "
                                 "principles or wordings); retrain it with `train --role critic`")
        chats = [book.critic_verdict(principles[j], p, r) for p, r in exchanges for j in rest]
        probs = head.binary(VIOLATION, features(chats, [f for f in fields for _ in rest]))
        out[:, rest] = probs.reshape(len(exchanges), len(rest))
    return out
