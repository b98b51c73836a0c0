"""Training the verdict heads (safety, critic, judge) on the shipped material.

The base model stays frozen: features come from the runtime, in the dtype the
role runs with, through the same prompt templates inference uses. Only the
linear read-outs and their calibration are fitted here; metrics are computed
on the held-out split, which neither the fit nor the calibration saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from oversight.constitution import Constitution
from oversight.eval.metrics import binary_report
from oversight.roles import RolesFile
from oversight.runtime.critic_scores import READOUT_SEP
from oversight.runtime.heads import Head, HeadOutput, HeadSpec, head_templates
from oversight.runtime.ops import Chat
from oversight.runtime.prompts import PromptBook
from oversight.train.features import extract_features
from oversight.train.head_config import HeadRecipe
from oversight.train.head_fit import LinearFit, Standardiser, fit_binary, fit_multiclass, fit_pairwise
from oversight.train.head_tasks import TASK_BUILDERS, HeadTask
from oversight.train.readout_fit import fit_principle_readouts
from oversight.train.trust_eval import trust_metrics


@dataclass
class HeadResult:
    head: Head
    metrics: dict[str, Any]
    plots: list[Path]


def train_head(recipe: HeadRecipe, runtime: Any, roles_file: RolesFile, constitution: Constitution,
               out_dir: Path, *, progress: bool = True, log: Callable[[str], None] = lambda _m: None,
               safety_head: Head | None = None) -> HeadResult:
    """Fit the role's head, evaluate it on held-out material, save head + reliability diagrams in out_dir.

    `safety_head` (another role's head only) finds the notes addressed to the overseers in the answers
    the far metrics read, as the graph does (train/trust_eval.py)."""
    from tqdm.auto import tqdm

    from oversight.runtime.loading import pick_dtype

    role = recipe.role
    book = PromptBook(roles_file)
    tasks = TASK_BUILDERS[role](recipe, book, constitution)
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
    readouts = [t for t in tasks if READOUT_SEP in t.name]
    joint = _fit_readouts(readouts, rows, recipe, common) if readouts else {}
    for task in tasks:
        what = f"{role} head output {task.name!r}"
        if task.name in joint:
            fit = joint[task.name]
        elif task.kind == "binary":
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
                                        platt_a=fit.platt_a, platt_c=fit.platt_c, temperature=fit.temperature,
                                        principle_text=task.principle_text)
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
    routed = _routed_heldout(tasks, evaluations)
    if routed is not None:
        evaluations.append(routed)
        metrics.update({f"{routed[0]}.{key}": value for key, value in binary_report(routed[1], routed[2]).items()})
    main = routed[0] if routed is not None else tasks[0].name
    metrics.update({"auroc": metrics.get(f"{main}.auroc"), "accuracy": metrics.get(f"{main}.accuracy"),
                    "ece": metrics.get(f"{main}.ece"), "primary": main,
                    "train_items": len(tasks[0].train), "heldout_items": len(tasks[0].heldout)})
    metrics.update(trust_metrics(role, head, runtime, roles_file, constitution, batch_size=recipe.batch_size,
                                 max_items=recipe.max_items, seed=recipe.seed, safety_head=safety_head))
    head.spec.metrics = metrics
    out_dir.mkdir(parents=True, exist_ok=True)
    head.save(out_dir / "head.json")
    plots = _plots(out_dir, role, evaluations)
    return HeadResult(head, metrics, plots)


def _fit_readouts(readouts: list[HeadTask], rows: Callable[[Sequence[Any]], Any], recipe: HeadRecipe,
                  common: dict[str, Any]) -> dict[str, LinearFit]:
    """The per-principle read-outs, fitted jointly (train/readout_fit.py); they share their train answers."""
    answers = readouts[0].train
    assert all(t.train == answers for t in readouts), "per-principle read-outs must share their train rows"
    y = np.array([t.y_train for t in readouts], dtype=int).T
    own = np.array([[i not in t.added for t in readouts] for i in range(len(answers))])
    joint = fit_principle_readouts(rows(answers), y, own, components=recipe.readout_components,
                                   shared_scale=recipe.readout_shared_scale, what="critic per-principle read-outs",
                                   **common)
    return {t.name: fit for t, fit in zip(readouts, joint.fits, strict=True)}


def _routed_heldout(tasks: list[HeadTask], evaluations: list[tuple[str, np.ndarray, np.ndarray]]
                    ) -> tuple[str, np.ndarray, np.ndarray] | None:
    """The critic's held-out rows scored as the graph scores them: by their principle's own read-out
    where it has one, else by the shared one. None for a head without per-principle read-outs."""
    readouts = {name.split(READOUT_SEP, 1)[1]: (y, p) for name, y, p in evaluations if READOUT_SEP in name}
    if not readouts:
        return None
    ys, ps = [y for y, _ in readouts.values()], [p for _, p in readouts.values()]
    shared = tasks[0]
    for name, y, p in evaluations:
        if name == shared.name:
            rest = np.array([key not in readouts for key in shared.heldout_keys], dtype=bool)
            ys.append(y[rest])
            ps.append(p[rest])
    return "readouts", np.concatenate(ys), np.concatenate(ps)


def _plots(out_dir: Path, role: str, evaluations: list[tuple[str, np.ndarray, np.ndarray]]) -> list[Path]:
    from oversight.eval.reliability import save_reliability_diagram

    return [save_reliability_diagram(out_dir / f"reliability_{name}.png", y, p,
                                     f"{role} / {name}: held-out reliability (n={len(y)})")
            for name, y, p in evaluations]


def _all_chats(tasks: list[HeadTask]) -> list[Chat]:
    chats: list[Chat] = []
    for task in tasks:
        for item in task.train + task.heldout:
            chats.extend(item if isinstance(item, tuple) else [item])
    return chats


def _train_chats(tasks: list[HeadTask]) -> list[Chat]:
    out: list[Chat] = []
    for task in tasks:
        for item in task.train:
            out.extend(item if isinstance(item, tuple) else [item])
    return out
