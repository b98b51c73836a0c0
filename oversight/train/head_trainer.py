"""Training the verdict heads (safety, critic, judge) on the shipped material.

The base model stays frozen: features come from the runtime, in the dtype the
role runs with, through the same prompt templates inference uses. Only the
linear read-outs and their calibration are fitted here; metrics are computed
on the held-out split, which neither the fit nor the calibration saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from oversight.constitution import HARM_CATEGORIES, Constitution
from oversight.eval.metrics import binary_report
from oversight.roles import RolesFile
from oversight.runtime.heads import Head, HeadOutput, HeadSpec, head_templates
from oversight.runtime.ops import Chat
from oversight.runtime.prompts import PromptBook
from oversight.train.features import extract_features
from oversight.train.head_augment import cross_principle_negatives, overseer_notes, rotating
from oversight.train.head_config import HeadRecipe
from oversight.train.head_fit import Standardiser, fit_binary, fit_multiclass, fit_pairwise
from oversight.train.material import CritiqueDemo, JudgePair, SafetyLabel, limit_items, load_material
from oversight.train.trust_eval import trust_metrics


@dataclass
class _Task:
    """One output of a head: its chats and labels per split."""

    name: str
    kind: str  # binary | multiclass | pairwise
    template: str
    train: list[Any] = field(default_factory=list)    # chats, or (first, second) chat pairs
    heldout: list[Any] = field(default_factory=list)
    y_train: list[Any] = field(default_factory=list)
    y_heldout: list[Any] = field(default_factory=list)
    classes: tuple[str, ...] = ()
    added: set[int] = field(default_factory=set)  # indices of train rows added to shape the weights only
    fields: dict[int, dict[str, str]] = field(default_factory=dict)  # id(chat) -> its template fields


@dataclass
class HeadResult:
    head: Head
    metrics: dict[str, Any]
    plots: list[Path]


def train_head(recipe: HeadRecipe, runtime: Any, roles_file: RolesFile, constitution: Constitution,
               out_dir: Path, *, progress: bool = True, log: Callable[[str], None] = lambda _m: None) -> HeadResult:
    """Fit the role's head, evaluate it on held-out material, save head + reliability diagrams in out_dir."""
    from tqdm.auto import tqdm

    from oversight.runtime.loading import pick_dtype

    role = recipe.role
    book = PromptBook(roles_file)
    tasks = _TASK_BUILDERS[role](recipe, book, constitution)
    features_cfg = roles_file.roles[role].features
    model_cfg = roles_file.model_for(role)
    handle = runtime.handle(model_cfg, None)  # heads read the frozen base model
    chats = _all_chats(tasks)
    log(f"{role}: reading hidden states of {len(chats)} chats (layers {list(features_cfg.layers)}, "
        f"{features_cfg.pooling} token)")
    encoder_input = features_cfg.encoder_input
    encoder_texts = None
    if encoder_input:
        fields = {k: v for task in tasks for k, v in task.fields.items()}
        encoder_texts = [book.text(role, encoder_input, **fields[id(c)]) for c in chats]
    with tqdm(total=len(chats), desc=f"{role} features", unit="chat", disable=not progress, leave=False) as bar:
        matrix = extract_features(runtime, handle, chats, features_cfg.layers, features_cfg.pooling,
                                  encoder=features_cfg.encoder, encoder_texts=encoder_texts,
                                  batch_size=recipe.batch_size, progress=bar)
    lookup = {id(c): i for i, c in enumerate(chats)}
    scaler = Standardiser.fit(matrix[[lookup[id(c)] for c in _train_chats(tasks)]])
    z = scaler(matrix)

    def rows(items: Sequence[Any]) -> Any:
        if items and isinstance(items[0], tuple):
            return (z[[lookup[id(a)] for a, _ in items]], z[[lookup[id(b)] for _, b in items]])
        return z[[lookup[id(c)] for c in items]]

    arrays: dict[str, np.ndarray] = {"mean": scaler.mean, "scale": scaler.scale}
    outputs: dict[str, HeadOutput] = {}
    metrics: dict[str, Any] = {}
    evaluations: list[tuple[str, np.ndarray, np.ndarray]] = []
    common = {"c_grid": recipe.c_grid, "folds": recipe.folds, "seed": recipe.seed, "max_iter": recipe.max_iter,
              "calibrate": recipe.calibration == "platt"}
    for task in tasks:
        what = f"{role} head output {task.name!r}"
        if task.kind == "binary":
            own = np.array([i not in task.added for i in range(len(task.train))])
            fit = fit_binary(rows(task.train), np.array(task.y_train, dtype=int), what=what, calibrate_on=own,
                             **common)
        elif task.kind == "pairwise":
            first, second = rows(task.train)
            fit = fit_pairwise(first, second, np.array(task.y_train, dtype=int), what=what, **common)
        else:
            fit = fit_multiclass(rows(task.train), task.y_train, task.classes, what=what, **common)
        arrays[f"{task.name}.weight"], arrays[f"{task.name}.bias"] = fit.weight, fit.bias
        outputs[task.name] = HeadOutput(kind=task.kind, template=task.template, labels=task.classes,  # type: ignore[arg-type]
                                        platt_a=fit.platt_a, platt_c=fit.platt_c, temperature=fit.temperature)
        metrics[f"{task.name}.c"] = fit.c
    loaded, _ = runtime.loaded(model_cfg)
    dtype = str(pick_dtype(model_cfg.dtype, loaded.device)).removeprefix("torch.")
    spec = HeadSpec(role=role, base_model=model_cfg.hub_id, layers=features_cfg.layers,
                    pooling=features_cfg.pooling, encoder=features_cfg.encoder, encoder_input=encoder_input,
                    feature_dtype=dtype, outputs=outputs,
                    templates=head_templates(roles_file.roles[role], {t.template for t in tasks} | (
                        {encoder_input} if encoder_input else set())),
                    calibration=("Platt scaling (temperature for multiclass) fitted on out-of-fold scores of the "
                                 f"train split ({recipe.folds}-fold cross-fitting); held-out split untouched"
                                 if common["calibrate"] else "none"))
    head = Head(spec, arrays)
    raw_features = {id(c): matrix[lookup[id(c)]] for c in chats}
    for task in tasks:
        if not task.heldout:
            continue
        if task.kind == "multiclass":
            probs = head.multiclass(task.name, np.stack([raw_features[id(c)] for c in task.heldout]))
            hits = [max(p, key=p.__getitem__) == y for p, y in zip(probs, task.y_heldout, strict=True)]
            metrics[f"{task.name}.accuracy"] = float(np.mean(hits))
            metrics[f"{task.name}.n"] = len(hits)
            continue
        if task.kind == "pairwise":
            first = np.stack([raw_features[id(a)] for a, _ in task.heldout])
            second = np.stack([raw_features[id(b)] for _, b in task.heldout])
            p = head.pairwise(task.name, first, second)
        else:
            p = head.binary(task.name, np.stack([raw_features[id(c)] for c in task.heldout]))
        y = np.array(task.y_heldout, dtype=int)
        for key, value in binary_report(y, p).items():
            metrics[f"{task.name}.{key}"] = value
        evaluations.append((task.name, y, p))
    main = tasks[0].name
    metrics.update({"auroc": metrics.get(f"{main}.auroc"), "accuracy": metrics.get(f"{main}.accuracy"),
                    "ece": metrics.get(f"{main}.ece"), "primary": main,
                    "train_items": len(tasks[0].train), "heldout_items": len(tasks[0].heldout)})
    metrics.update(trust_metrics(role, head, runtime, roles_file, constitution, batch_size=recipe.batch_size,
                                 max_items=recipe.max_items, seed=recipe.seed))
    head.spec.metrics = metrics
    out_dir.mkdir(parents=True, exist_ok=True)
    head.save(out_dir / "head.json")
    plots = _plots(out_dir, role, evaluations)
    return HeadResult(head, metrics, plots)


def _plots(out_dir: Path, role: str, evaluations: list[tuple[str, np.ndarray, np.ndarray]]) -> list[Path]:
    from oversight.eval.reliability import save_reliability_diagram

    return [save_reliability_diagram(out_dir / f"reliability_{name}.png", y, p,
                                     f"{role} / {name}: held-out reliability (n={len(y)})")
            for name, y, p in evaluations]


def _all_chats(tasks: list[_Task]) -> list[Chat]:
    chats: list[Chat] = []
    for task in tasks:
        for item in task.train + task.heldout:
            chats.extend(item if isinstance(item, tuple) else [item])
    return chats


def _train_chats(tasks: list[_Task]) -> list[Chat]:
    out: list[Chat] = []
    for task in tasks:
        for item in task.train:
            out.extend(item if isinstance(item, tuple) else [item])
    return out


def _limit(items: list[Any], recipe: HeadRecipe) -> list[Any]:
    return limit_items(items, recipe.max_items, recipe.seed)


def _safety_tasks(recipe: HeadRecipe, book: PromptBook, constitution: Constitution) -> list[_Task]:
    material = load_material(constitution, "safety")
    material.require_splits("train", "heldout")
    harmful = _Task("harmful", "binary", "input")
    jailbreak = _Task("jailbreak", "binary", "input")
    category = _Task("category", "multiclass", "input", classes=tuple(constitution.categories))
    attack = _Task("attack", "multiclass", "input", classes=tuple(constitution.attack_types))
    response = _Task("response_harmful", "binary", "exchange")
    for split in ("train", "heldout"):
        for item in _limit(material.split(split), recipe):  # type: ignore[arg-type]
            assert isinstance(item, SafetyLabel)
            if item.response is not None:
                _add_exchange(response, split, book, item.prompt, item.response, int(item.harmful))
                continue
            chat, asked = book.safety_input(item.prompt), {"prompt": item.prompt}
            _add(harmful, split, chat, int(item.harmful), asked)
            _add(jailbreak, split, chat, int(item.jailbreak), asked)
            if item.harmful and item.category:
                _add(category, split, chat, item.category, asked)
            if item.jailbreak and item.attack:
                _add(attack, split, chat, item.attack, asked)
    if recipe.extra_response_material:
        demos = load_material(constitution, "critique_revision")
        for split in ("train", "heldout"):
            for demo in _limit(demos.split(split), recipe):  # type: ignore[arg-type]
                assert isinstance(demo, CritiqueDemo)
                principle = constitution.principle(demo.principle)
                label = int(demo.violates and principle.category in HARM_CATEGORIES)
                _add_exchange(response, split, book, demo.prompt, demo.response, label)
    _with_notes(response, recipe, constitution, book)
    tasks = [harmful, jailbreak, response]
    tasks += [t for t in (category, attack) if len(set(t.y_train)) >= 2]
    return tasks


def _critic_tasks(recipe: HeadRecipe, book: PromptBook, constitution: Constitution) -> list[_Task]:
    material = load_material(constitution, "critique_revision")
    material.require_splits("train", "heldout")
    task = _Task("violation", "binary", "verdict")
    for split in ("train", "heldout"):
        for demo in _limit(material.split(split), recipe):  # type: ignore[arg-type]
            assert isinstance(demo, CritiqueDemo)
            principle = constitution.principle(demo.principle)
            _add(task, split, book.critic_verdict(principle, demo.prompt, demo.response), int(demo.violates),
                 {"prompt": demo.prompt, "response": demo.response})
    if recipe.cross_principle_negatives:
        train = _limit(material.split("train"), recipe)
        for other, demo in cross_principle_negatives(train, constitution, recipe.cross_principle_negatives,
                                                     recipe.cross_principle_harm_only):
            task.added.add(len(task.train))  # calibrated on the own-principle rows only (head_fit.fit_binary)
            _add(task, "train", book.critic_verdict(other, demo.prompt, demo.response), 0,
                 {"prompt": demo.prompt, "response": demo.response})
    return [task]


def _judge_tasks(recipe: HeadRecipe, book: PromptBook, constitution: Constitution) -> list[_Task]:
    material = load_material(constitution, "judge")
    material.require_splits("train", "heldout")
    task = _Task("preference", "pairwise", "single")
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


def _add_exchange(task: _Task, split: str, book: PromptBook, prompt: str, response: str, label: int) -> None:
    _add(task, split, book.safety_exchange(prompt, response), label, {"prompt": prompt, "response": response})


def _with_notes(task: _Task, recipe: HeadRecipe, constitution: Constitution, book: PromptBook) -> None:
    """`recipe.overseer_notes` copies of each train exchange with a note appended, same label
    (see head_augment.py)."""
    written = overseer_notes(constitution) if recipe.overseer_notes else []
    notes = rotating(written)
    originals = list(zip(task.train, task.y_train, strict=True))
    for _ in range(recipe.overseer_notes if written else 0):
        for chat, label in originals:
            fields = task.fields[id(chat)]
            _add_exchange(task, "train", book, fields["prompt"], fields["response"] + next(notes), label)


def _add(task: _Task, split: str, item: Any, label: Any, fields: Any) -> None:
    """Add a chat (or a pair of chats) with its label; `fields` are its template fields (a pair for a pair)."""
    for chat, chat_fields in zip(item, fields, strict=True) if isinstance(item, tuple) else [(item, fields)]:
        task.fields[id(chat)] = chat_fields
    if split == "train":
        task.train.append(item)
        task.y_train.append(label)
    else:
        task.heldout.append(item)
        task.y_heldout.append(label)


_TASK_BUILDERS: dict[str, Callable[[HeadRecipe, PromptBook, Constitution], list[_Task]]] = {
    "safety": _safety_tasks, "critic": _critic_tasks, "judge": _judge_tasks}
