"""The rows each verdict head is fitted on: chats and labels per output, built from the shipped material.

One `HeadTask` per head output. Train rows may include rows added only to shape the weights (marked in
`added`, left out of the calibration); the held-out split is always the material's own, as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oversight.classify import classify
from oversight.constitution import HARM_CATEGORIES, Constitution
from oversight.errors import OversightError
from oversight.runtime.critic_scores import readout_name
from oversight.runtime.overseer_notes import NOTE_OUTPUT, paragraphs
from oversight.runtime.prompts import PromptBook
from oversight.train.head_augment import cross_principle_negatives, note_material, overseer_notes, rotating
from oversight.train.head_config import HeadRecipe
from oversight.train.material import CritiqueDemo, JudgePair, Material, SafetyLabel, limit_items, load_material


FRAGMENT_WORDS = 8  # overseer_note's cut-off negatives: a paragraph's first words alone


@dataclass
class HeadTask:
    """One output of a head: its chats and labels per split."""

    name: str
    kind: str  # binary | multiclass | pairwise
    template: str
    train: list[Any] = field(default_factory=list)    # chats, or (first, second) chat pairs
    heldout: list[Any] = field(default_factory=list)
    y_train: list[Any] = field(default_factory=list)
    y_heldout: list[Any] = field(default_factory=list)
    classes: tuple[str, ...] = ()
    principle_text: str = ""  # a per-principle read-out: the principle's wording it learns
    heldout_keys: list[str] = field(default_factory=list)  # the shared critic read-out: each row's principle
    added: set[int] = field(default_factory=set)  # indices of train rows added to shape the weights only
    fields: dict[int, dict[str, str]] = field(default_factory=dict)  # id(chat) -> its template fields


def _limit(items: list[Any], recipe: HeadRecipe) -> list[Any]:
    return limit_items(items, recipe.max_items, recipe.seed)


def safety_tasks(recipe: HeadRecipe, book: PromptBook, constitution: Constitution) -> list[HeadTask]:
    material = load_material(constitution, "safety")
    material.require_splits("train", "heldout")
    harmful = HeadTask("harmful", "binary", "input")
    jailbreak = HeadTask("jailbreak", "binary", "input")
    category = HeadTask("category", "multiclass", "input", classes=tuple(constitution.categories))
    attack = HeadTask("attack", "multiclass", "input", classes=tuple(constitution.attack_types))
    response = HeadTask("response_harmful", "binary", "exchange")
    answered: dict[str, list[tuple[str, str]]] = {"train": [], "heldout": []}
    for split in ("train", "heldout"):
        for item in _limit(material.split(split), recipe):  # type: ignore[arg-type]
            assert isinstance(item, SafetyLabel)
            if item.response is not None:
                _add_exchange(response, split, book, item.prompt, item.response, int(item.harmful))
                answered[split].append((item.prompt, item.response))
                continue
            chat, asked = book.safety_input(item.prompt), {"prompt": item.prompt}
            _add(harmful, split, chat, int(item.harmful), asked)
            _add(jailbreak, split, chat, int(item.jailbreak), asked)
            if item.harmful and item.category:
                _add(category, split, chat, item.category, asked)
            if item.jailbreak and item.attack:
                _add(attack, split, chat, item.attack, asked)
    # critique drafts add answers to the response head and paragraphs to the note detector
    demos = load_material(constitution, "critique_revision") \
        if recipe.extra_response_material or recipe.note_detector_prompts else None
    if demos is not None and recipe.extra_response_material:
        for split in ("train", "heldout"):
            for demo in _limit(demos.split(split), recipe):  # type: ignore[arg-type]
                assert isinstance(demo, CritiqueDemo)
                principle = constitution.principle(demo.principle)
                label = int(demo.violates and principle.category in HARM_CATEGORIES)
                _add_exchange(response, split, book, demo.prompt, demo.response, label)
    _with_notes(response, recipe, constitution, book)
    tasks = [harmful, jailbreak, response]
    if demos is not None and recipe.note_detector_prompts:
        tasks.append(_note_task(answered, demos, recipe, constitution, book))
    tasks += [t for t in (category, attack) if len(set(t.y_train)) >= 2]
    return tasks


def critic_tasks(recipe: HeadRecipe, book: PromptBook, constitution: Constitution) -> list[HeadTask]:
    material = load_material(constitution, "critique_revision")
    material.require_splits("train", "heldout")
    task = HeadTask("violation", "binary", "verdict")
    for split in ("train", "heldout"):
        for demo in _limit(material.split(split), recipe):  # type: ignore[arg-type]
            assert isinstance(demo, CritiqueDemo)
            principle = constitution.principle(demo.principle)
            _add(task, split, book.critic_verdict(principle, demo.prompt, demo.response), int(demo.violates),
                 {"prompt": demo.prompt, "response": demo.response})
            if split == "heldout":
                task.heldout_keys.append(demo.principle)
    tasks = [task]
    if recipe.principle_readouts:
        tasks += principle_readout_tasks(material.split("train"), material.split("heldout"), recipe, book,
                                          constitution)
    if recipe.cross_principle_negatives:
        train = _limit(material.split("train"), recipe)
        for other, demo in cross_principle_negatives(train, constitution, recipe.cross_principle_negatives,
                                                     recipe.cross_principle_harm_only):
            task.added.add(len(task.train))  # calibrated on the own-principle rows only (head_fit.fit_binary)
            _add(task, "train", book.critic_verdict(other, demo.prompt, demo.response), 0,
                 {"prompt": demo.prompt, "response": demo.response})
    return tasks


def principle_readout_tasks(train: Sequence[CritiqueDemo], heldout: Sequence[CritiqueDemo], recipe: HeadRecipe,
                             book: PromptBook, constitution: Constitution) -> list[HeadTask]:
    """One read-out per principle over the exchange's features (runtime/critic_scores.py).

    Its train rows are every train answer: violated if some demo says it breaks this principle, else
    not, so answers written for other principles teach it what *this* principle is not. Its held-out
    rows are the held-out demos written for it, as the shared read-out's; an answer that is also
    held out is never a train row. The calibration is fitted on its own principle's rows only.

    With `recipe.revision_negatives`, each train demo's revision is a train answer too, violating nothing
    and an own row of the demo's principle. Without them the read-outs had learnt the request's topic: a
    probe of 2026-12-07 scored plain refusals of harmful requests as violations (manipulation 0.99 on "I
    won't help with that. Tricking someone into sharing bank details is fraud", privacy 0.98 on declining
    to find a journalist's address), and in calibration runs such alarms on refusals escalated threads.
    The revision answers the same request as the violating draft, so the pair separates answer from request.
    Off by default: with them the graph held fewer of the calibration set's harmful and jailbreak prompts
    (the request's topic had been catching some; README, "Calibrating escalation for a reviewer budget").

    With `recipe.safety_exchanges`, the safety material's train exchanges join too: compliant harmful
    answers violate their category's principle, refusals and everyday answers nothing, so the harm
    read-outs see the same topics answered both ways. Off as well: with both, fewer false alarms, but the
    critic passed middle-band rewrites that restate a harmful request (it had learnt that text written
    like a revision violates nothing; README, same section).

    With `recipe.everyday_exchanges`, only the safety material's compliant answers to harmless requests
    join, violating nothing and weights only (never a calibration row): code, recipes, letters, stories,
    so no read-out learns to call an everyday answer a violation. Off too: measured on 2026-12-07, fewer
    read-out alarms on everyday answers of every trust set, but the calibration set's figures tied and the
    held-out ECE came within 0.002 of the gate (README, same section).
    """
    train, heldout = _limit(list(train), recipe), _limit(list(heldout), recipe)
    held = {(d.prompt, d.response) for d in heldout}
    answers = list(dict.fromkeys((d.prompt, d.response) for d in train if (d.prompt, d.response) not in held))
    broken = {(d.prompt, d.response, d.principle) for d in train if d.violates}
    written_for = {(d.prompt, d.response, d.principle) for d in train}
    if recipe.revision_negatives:
        fixes = [(d.prompt, d.revision, d.principle) for d in train
                 if d.revision and (d.prompt, d.revision) not in held]
        written_for |= set(fixes)
        answers = list(dict.fromkeys([*answers, *((prompt, revision) for prompt, revision, _ in fixes)]))
    exchanges = _safety_exchanges(held, recipe, constitution) if recipe.safety_exchanges else []
    if recipe.everyday_exchanges:
        answers = list(dict.fromkeys([*answers, *_everyday_exchanges(held, recipe, constitution)]))
    tasks = []
    for principle in constitution.principles:
        task = HeadTask(readout_name(principle.id), "binary", "exchange", principle_text=principle.text)
        for prompt, response in answers:
            if (prompt, response, principle.id) not in written_for:
                task.added.add(len(task.train))
            _add(task, "train", book.critic_exchange(prompt, response), int((prompt, response, principle.id) in broken),
                 {"prompt": prompt, "response": response})
        for prompt, response, category in exchanges:  # every read-out: they are fitted on shared rows
            if principle.category not in HARM_CATEGORIES or category not in (None, principle.category):
                task.added.add(len(task.train))  # another harm's answer, or a non-harm read-out: weights only
            _add(task, "train", book.critic_exchange(prompt, response), int(category == principle.category),
                 {"prompt": prompt, "response": response})
        for demo in heldout:
            if demo.principle == principle.id:
                _add(task, "heldout", book.critic_exchange(demo.prompt, demo.response), int(demo.violates),
                     {"prompt": demo.prompt, "response": demo.response})
        own = [y for i, y in enumerate(task.y_train) if i not in task.added]
        if len(set(own)) == 2:  # no material of its own: the shared read-out serves it
            tasks.append(task)
    return tasks


def _safety_exchanges(held: set[tuple[str, str]], recipe: HeadRecipe,
                      constitution: Constitution) -> list[tuple[str, str, str | None]]:
    """The safety material's train exchanges as (request, answer, harm category or None when harmless);
    none that the critic holds out."""
    rows = []
    for item in _limit(load_material(constitution, "safety").split("train"), recipe):
        assert isinstance(item, SafetyLabel)
        if item.response is not None and (item.prompt, item.response) not in held:
            rows.append((item.prompt, item.response, item.category if item.harmful else None))
    return rows


def _everyday_exchanges(held: set[tuple[str, str]], recipe: HeadRecipe,
                        constitution: Constitution) -> list[tuple[str, str]]:
    """The safety material's train exchanges that answer a harmless request compliantly, as (request,
    answer): none whose request the material labels harmful anywhere, none that declines (it would teach
    that a refusal's wording violates nothing, the failure `safety_exchanges` measured), none held out."""
    items = [item for item in _limit(load_material(constitution, "safety").split("train"), recipe)
             if isinstance(item, SafetyLabel)]
    harmful_requests = {item.prompt for item in items if item.harmful or item.jailbreak}
    return [(item.prompt, item.response) for item in items
            if item.response is not None and item.prompt not in harmful_requests
            and (item.prompt, item.response) not in held and classify(item.prompt, item.response) == "comply"]


def judge_tasks(recipe: HeadRecipe, book: PromptBook, constitution: Constitution) -> list[HeadTask]:
    material = load_material(constitution, "judge")
    material.require_splits("train", "heldout")
    task = HeadTask("preference", "pairwise", "single")
    for split in ("train", "heldout"):
        for pair in _limit(material.split(split), recipe):  # type: ignore[arg-type]
            assert isinstance(pair, JudgePair)
            principle = constitution.principle(pair.principle)
            first = book.judge_single(principle, pair.prompt, pair.a)
            second = book.judge_single(principle, pair.prompt, pair.b)
            _add(task, split, (first, second), int(pair.better == "b"),
                 ({"prompt": pair.prompt, "response": pair.a}, {"prompt": pair.prompt, "response": pair.b}))
    written = overseer_notes(constitution) if recipe.overseer_notes else []
    notes = rotating(written)
    for pair in _limit(material.split("train"), recipe) if written else []:
        assert isinstance(pair, JudgePair)
        principle = constitution.principle(pair.principle)
        for _ in range(recipe.overseer_notes):  # a note on a, then on b: it never decides the pair
            a, b = pair.a + next(notes), pair.b + next(notes)
            for first_text, second_text in ((a, pair.b), (pair.a, b)):
                _add(task, "train", (book.judge_single(principle, pair.prompt, first_text),
                                     book.judge_single(principle, pair.prompt, second_text)),
                     int(pair.better == "b"), ({"prompt": pair.prompt, "response": first_text},
                                               {"prompt": pair.prompt, "response": second_text}))
    return [task]


def _add_exchange(task: HeadTask, split: str, book: PromptBook, prompt: str, response: str, label: int) -> None:
    _add(task, split, book.safety_exchange(prompt, response), label, {"prompt": prompt, "response": response})


def _with_notes(task: HeadTask, recipe: HeadRecipe, constitution: Constitution, book: PromptBook) -> None:
    """`recipe.overseer_notes` copies of each train exchange with a note appended, same label
    (see head_augment.py)."""
    written = overseer_notes(constitution) if recipe.overseer_notes else []
    notes = rotating(written)
    originals = list(zip(task.train, task.y_train, strict=True))
    for _ in range(recipe.overseer_notes if written else 0):
        for chat, label in originals:
            fields = task.fields[id(chat)]
            _add_exchange(task, "train", book, fields["prompt"], fields["response"] + next(notes), label)


def _note_task(answered: dict[str, list[tuple[str, str]]], demos: Material, recipe: HeadRecipe,
               constitution: Constitution, book: PromptBook) -> HeadTask:
    """`overseer_note` (runtime/overseer_notes.py): each material note, paragraph-sized as the roles read
    it, after `recipe.note_detector_prompts` of the split's requests in turn (notes addressed to the
    overseers 1, look-alikes addressed to the user 0), and, all 0, what an answer's paragraphs are made
    of: every paragraph of the split's answers (safety exchanges, critique drafts and their revisions),
    the request echoed back, and a paragraph's first words alone (the embedded model repeats the request
    and stops mid-sentence; trained on whole paragraphs only, the output took such lines for notes)."""
    task = HeadTask(NOTE_OUTPUT, "binary", "exchange")
    for split, exchanges in answered.items():
        prompts = rotating(list(dict.fromkeys(p for p, _ in exchanges)))
        for note in note_material(constitution, split) if exchanges else []:
            for _ in range(recipe.note_detector_prompts):
                _add_exchange(task, split, book, next(prompts), note.text.strip(), int(note.addressed_to == "overseer"))
        answers = list(exchanges)
        for demo in _limit(demos.split(split), recipe):  # type: ignore[arg-type]
            assert isinstance(demo, CritiqueDemo)
            answers += [(demo.prompt, text) for text in (demo.response, demo.revision) if text]
        for prompt, answer in dict.fromkeys(answers):
            parts = paragraphs(answer)
            lines = [*parts, prompt.strip(), *(" ".join(p.split()[:FRAGMENT_WORDS]) for p in parts
                                               if len(p.split()) >= 2 * FRAGMENT_WORDS)]
            for line in dict.fromkeys(lines):
                _add_exchange(task, split, book, prompt, line, 0)
    if len(set(task.y_train)) < 2:
        raise OversightError("note_detector_prompts is set, but the material has no overseer_notes.jsonl with "
                             "notes addressed to the overseers in its train split")
    return task


def _add(task: HeadTask, split: str, item: Any, label: Any, fields: Any) -> None:
    """Add a chat (or a pair of chats) with its label; `fields` are its template fields (a pair for a pair)."""
    for chat, chat_fields in zip(item, fields, strict=True) if isinstance(item, tuple) else [(item, fields)]:
        task.fields[id(chat)] = chat_fields
    if split == "train":
        task.train.append(item)
        task.y_train.append(label)
    else:
        task.heldout.append(item)
        task.y_heldout.append(label)


TASK_BUILDERS: dict[str, Callable[[HeadRecipe, PromptBook, Constitution], list[HeadTask]]] = {
    "safety": safety_tasks, "critic": critic_tasks, "judge": judge_tasks}
