"""Scoring a freshly fitted head beyond its held-out split, for the version's metrics (and `roles check`).

- safety: harmful-response AUROC on the far exchanges, and how far the injection notes move the
  response head when appended to each far answer;
- judge: accuracy on the far pairs in both presentation orders, and the shift of P(better answer wins)
  when a note is appended to the worse answer (a note that wants it to win);
- critic: per-principle AUROC on the held-out material with other principles' violations as negatives.

Nothing here fits or chooses anything: the head is final before these figures exist. Features go
through the same templates, layers and encoder input as training and inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from oversight.constitution import Constitution
from oversight.eval.metrics import accuracy, auroc
from oversight.roles import RolesFile
from oversight.runtime.answer_prefixes import answer_views, highest_per_answer
from oversight.runtime.critic_scores import violation_probs
from oversight.runtime.heads import Head
from oversight.runtime.overseer_notes import head_note_finder, without_notes
from oversight.runtime.ops import Chat
from oversight.runtime.prompts import PromptBook
from oversight.settings import PROJECT_DIR
from oversight.train.features import extract_features
from oversight.train.material import CritiqueDemo, limit_items, load_material
from oversight.train.trust_metrics import injection_shift, pairwise_accuracy, principle_aurocs
from oversight.train.trust_sets import TrustSets, load_trust_sets

Features = Callable[[list[Chat], list[dict[str, str]]], np.ndarray]
Reader = Callable[[list[tuple[str, str]]], list[str]]  # (prompt, answer) rows -> the answers as the roles read them


def _role_features(role: str, head: Head, runtime: Any, roles_file: RolesFile, book: PromptBook,
                   batch_size: int) -> Features:
    """`head`'s features of chats, as training and inference compute them (same layers and encoder input)."""
    handle = runtime.handle(roles_file.model_for(role), None)
    spec = head.spec

    def features(chats: list[Chat], fields: list[dict[str, str]]) -> np.ndarray:
        texts = [book.text(role, spec.encoder_input, **f) for f in fields] if spec.encoder_input else None
        return extract_features(runtime, handle, chats, spec.layers, spec.pooling, encoder=spec.encoder,
                                encoder_texts=texts, batch_size=batch_size)
    return features


def trust_metrics(role: str, head: Head, runtime: Any, roles_file: RolesFile, constitution: Constitution, *,
                  batch_size: int = 32, max_items: int | None = None, seed: int = 0,
                  project_dir: Path = PROJECT_DIR, safety_head: Head | None = None) -> dict[str, Any]:
    """The role's far-set, injection and principle-specificity figures (empty for a role without any).

    Answers are read as the graph reads them: without the paragraphs the safety head finds addressed to
    the overseers (`head` itself for the safety role, else `safety_head`; none found without one).
    """
    book = PromptBook(roles_file)
    features = _role_features(role, head, runtime, roles_file, book, batch_size)
    if role == "critic":  # held-out material, no notes in it: nothing to set aside
        demos = limit_items(load_material(constitution, "critique_revision").split("heldout"), max_items, seed)
        return critic_principle_metrics(head, book, constitution, demos, features)  # type: ignore[arg-type]
    if role == "safety":
        safety_head = head
    safety_features = features if role == "safety" or safety_head is None else \
        _role_features("safety", safety_head, runtime, roles_file, book, batch_size)
    find = head_note_finder(safety_head, lambda rows: safety_features(*book.safety_exchanges(rows)))
    reader: Reader = (lambda rows: without_notes(rows, find)) if find else (lambda rows: [a for _, a in rows])
    sets = load_trust_sets(project_dir)
    if role == "safety":
        return safety_far_metrics(head, book, sets, features, reader)
    if role == "judge":
        return judge_far_metrics(head, book, constitution, sets, features, reader)
    return {}


def safety_far_metrics(head: Head, book: PromptBook, sets: TrustSets, features: Features,
                       reader: Reader = lambda rows: [a for _, a in rows]) -> dict[str, Any]:
    """Response head on the far exchanges, as written and with each injection note appended; each answer
    read as the roles read it (`reader`) and scored as the graph scores it (its highest paragraph-prefix
    probability, runtime/answer_prefixes.py)."""
    items = sets.exchanges
    if not items or "response_harmful" not in head.spec.outputs:
        return {}
    notes = sets.notes
    written = [(x.prompt, x.response + note) for note in ("", *notes) for x in items]
    answers = list(zip([p for p, _ in written], reader(written), strict=True))
    views, counts = answer_views([r for _, r in answers])
    prompts = [p for (p, _), n in zip(answers, counts, strict=True) for _ in range(n)]
    feats = features(*book.safety_exchanges(list(zip(prompts, views, strict=True))))
    probs = highest_per_answer(head.binary("response_harmful", feats), counts).reshape(1 + len(notes), len(items))
    y = np.array([int(x.harmful) for x in items])
    out: dict[str, Any] = {"far.response_harmful.auroc": auroc(y, probs[0]),
                           "far.response_harmful.accuracy": accuracy(y, probs[0]),
                           "far.response_harmful.n": len(items)}
    out.update(_notes_found(written, answers, len(items)))
    if notes:
        out.update(injection_shift(probs[0], probs[1:].T).as_metrics("injection.response_harmful"))
    return out


def _notes_found(written: list[tuple[str, str]], read: list[tuple[str, str]], plain: int) -> dict[str, Any]:
    """How many answers the reader changed: among the first `plain` (as written: every change there is a
    paragraph wrongly taken for a note) and among the rest (each with a note appended: found)."""
    changed = [a != b for (_, a), (_, b) in zip(written, read, strict=True)]
    out: dict[str, Any] = {"far.notes_dropped_from_plain": int(sum(changed[:plain]))}
    if len(written) > plain:
        out["injection.notes_found"] = float(np.mean(changed[plain:]))
    return out


def judge_far_metrics(head: Head, book: PromptBook, constitution: Constitution, sets: TrustSets,
                      features: Features, reader: Reader = lambda rows: [a for _, a in rows]) -> dict[str, Any]:
    """Far pairs in both orders; then each note appended to the worse answer; answers read as the roles
    read them (`reader`)."""
    known = {p.id for p in constitution.principles}
    pairs = [p for p in sets.judge_pairs if p.principle in known]
    if not pairs or "preference" not in head.spec.outputs:
        return {}
    notes = sets.notes
    rows: list[tuple[str, str, str]] = []  # (principle, prompt, response); per pair: a, b, worse + each note
    for pair in pairs:
        worse = pair.b if pair.better == "a" else pair.a
        rows += [(pair.principle, pair.prompt, pair.a), (pair.principle, pair.prompt, pair.b)]
        rows += [(pair.principle, pair.prompt, worse + note) for note in notes]
    read = reader([(prompt, text) for _, prompt, text in rows])
    width = 2 + len(notes)
    plain = [k for k in range(len(rows)) if k % width < 2]
    noted = [k for k in range(len(rows)) if k % width >= 2]
    out: dict[str, Any] = _notes_found([(rows[k][1], rows[k][2]) for k in plain + noted],
                                       [(rows[k][1], read[k]) for k in plain + noted], len(plain))
    rows = [(pid, prompt, text) for (pid, prompt, _), text in zip(rows, read, strict=True)]
    chats = [book.judge_single(constitution.principle(pid), prompt, text) for pid, prompt, text in rows]
    feats = features(chats, [{"prompt": prompt, "response": text} for _, prompt, text in rows])
    fa, fb = feats[0::width], feats[1::width]
    p_ab = head.pairwise("preference", fa, fb)
    p_ba = 1.0 - head.pairwise("preference", fb, fa)
    b_better = np.array([p.better == "b" for p in pairs])
    out.update({"far.preference.accuracy": pairwise_accuracy(b_better, p_ab, p_ba), "far.preference.n": len(pairs)})
    if notes:
        better, worse = np.where(b_better[:, None], fb, fa), np.where(b_better[:, None], fa, fb)
        before = _better_wins(head, better, worse)
        after = np.stack([_better_wins(head, better, feats[2 + k::width]) for k in range(len(notes))], axis=1)
        out.update(injection_shift(before, after).as_metrics("injection.preference"))
    return out


def _better_wins(head: Head, better: np.ndarray, worse: np.ndarray) -> np.ndarray:
    """P(the better answer is chosen), both orders averaged (as the graph's judge does)."""
    return (head.pairwise("preference", worse, better) + 1.0 - head.pairwise("preference", better, worse)) / 2


def critic_principle_metrics(head: Head, book: PromptBook, constitution: Constitution,
                             demos: Sequence[CritiqueDemo], features: Features) -> dict[str, Any]:
    """Every held-out answer checked against every principle, scored as the graph scores it (per-principle
    read-outs where the head has them); AUROC per principle (see trust_metrics)."""
    principles = list(constitution.principles)
    if not demos:
        return {}
    scores = violation_probs(head, book, principles, [(d.prompt, d.response) for d in demos], features)
    per = principle_aurocs([p.id for p in principles], [d.principle for d in demos],
                           [d.violates for d in demos], scores)
    return {f"principle_auroc.{k}": v for k, v in per.items()} | {"principle_auroc.n": len(demos)}
