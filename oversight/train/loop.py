"""The alignment loop in one call: measure, generate constitutional data, train SFT then DPO, measure again.

Stages (each timed): evaluate the bare base model and the overseen graph on the
loop suite; run the data-generation graph (critique and revision, run kind
`datagen`) on training prompts from the constitution's material; export what it
stored; fine-tune the base adapter (SFT) and continue it with DPO (rpo term);
evaluate the candidate alone and inside the graph. Nothing is promoted: the
candidate stays a candidate for `models promote` or the retraining gate.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oversight.constitution import Constitution, load_constitution
from oversight.eval.result import EvalResult
from oversight.settings import Settings
from oversight.train.base_trainer import train_base
from oversight.train.loop_config import LoopConfig
from oversight.train.material import SafetyLabel, load_material


@dataclass
class LoopReport:
    """Before/after eval results, the trained versions and the seconds each stage took."""

    folder: Path
    stages: dict[str, float] = field(default_factory=dict)
    before: dict[str, EvalResult] = field(default_factory=dict)   # "base" / "graph" -> result
    after: dict[str, EvalResult] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)        # "sft" / "dpo" -> registry id
    datagen: dict[str, Any] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)


def training_prompts(constitution: Constitution, count: int, harmful_share: float, seed: int) -> list[Any]:
    """Train-split prompts of the safety material: harmful and jailbreak ones, and benign ones."""
    from oversight.graph.inputs import Prompt

    items = [i for i in load_material(constitution, "safety").split("train")
             if isinstance(i, SafetyLabel) and i.response is None]
    rng = random.Random(seed)
    harmful = [i for i in items if i.harmful]
    benign = [i for i in items if not i.harmful]
    rng.shuffle(harmful)
    rng.shuffle(benign)
    n_harm = min(len(harmful), round(count * harmful_share))
    chosen = harmful[:n_harm] + benign[: count - n_harm]
    rng.shuffle(chosen)
    return [Prompt(id=i.id, text=i.prompt) for i in chosen]


def run_loop(settings: Settings, store: Any, config: LoopConfig, *, progress: bool = True,
             log: Callable[[str], None] = lambda _m: None) -> LoopReport:
    from oversight.train.export import export_datasets
    from oversight.train.export_config import ExportOptions

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    report = LoopReport(settings.home / "loops" / stamp)
    report.folder.mkdir(parents=True, exist_ok=True)
    constitution = load_constitution("default", settings.project_dir)

    @contextmanager
    def stage(name: str) -> Iterator[None]:
        log(f"== {name}")
        start = time.perf_counter()
        yield
        report.stages[name] = time.perf_counter() - start
        log(f"== {name}: {report.stages[name]:.0f} s")

    report.before = _measure(settings, store, config, None, report.folder / "before", progress, stage)
    with stage("generate data"):
        started = datetime.now(UTC)
        report.datagen = _datagen(settings, store, config, constitution, progress, log)
    with stage("export"):
        exported = export_datasets(store, report.folder / "export", ExportOptions(since=started, min_confidence=config.export_min_confidence))
        report.export = {"export_id": exported.export_id, "summary": exported.summary()}
        log(f"export {exported.export_id}: {exported.summary()}")
    with stage("train sft"):
        sft = train_base(settings, store, algo="sft", recipe=config.sft_recipe, overrides=config.sft_overrides,
                         dataset=exported.out, constitution=constitution, progress=progress, log=log)
        report.versions["sft"] = sft.version_id
    pairs = exported.manifest.get("counts", {}).get("preference", {}).get("train", 0)
    if not pairs:  # nothing was revised, or the judge was never sure enough to store a pair
        log("no preference pairs in the export: DPO skipped, the SFT candidate is evaluated")
        report.after = _measure(settings, store, config, sft, report.folder / "after", progress, stage)
        return report
    with stage("train dpo"):
        dpo = train_base(settings, store, algo="dpo", recipe=config.dpo_recipe, overrides=config.dpo_overrides,
                         dataset=exported.out, constitution=constitution, parent_version=sft.version_id,
                         progress=progress, log=log)
        report.versions["dpo"] = dpo.version_id
    report.after = _measure(settings, store, config, dpo, report.folder / "after", progress, stage)
    return report


def _roles(settings: Settings, store: Any, spec_name: str, adapter: Path | None, log: Callable[[str], None]
           ) -> tuple[Any, Any, dict[str, Any], Any, Any]:
    """(spec, roles, versions, runtime, constitution) for a graph spec, the base role on `adapter` if given."""
    from oversight.graph.spec import check_against, load_spec
    from oversight.roles import load_roles
    from oversight.train.bootstrap import build_roles

    spec = load_spec(spec_name, settings.project_dir)
    constitution = load_constitution(spec.constitution, settings.project_dir)
    check_against(spec, {p.id for p in constitution.principles}, set(constitution.categories))
    overrides = [f"roles.base.adapter={adapter}"] if adapter else []
    roles_file = load_roles(spec.roles, settings.project_dir, overrides)
    roles, versions, runtime = build_roles(settings, store, roles_file, constitution, progress=False, log=log)
    return spec, roles, versions, runtime, constitution


def _measure(settings: Settings, store: Any, config: LoopConfig, candidate: Any, folder: Path, progress: bool,
             stage: Callable[[str], Any]) -> dict[str, EvalResult]:
    """The base target (bare or the candidate) and, unless skipped, the graph with that base."""
    from oversight.eval.runner import evaluate

    adapter = candidate.folder / "adapter" if candidate is not None else None
    when = "after" if candidate is not None else "before"
    with stage(f"load roles ({when})"):
        spec, roles, versions, runtime, _c = _roles(settings, store, config.graph_spec, adapter, lambda _m: None)
    target = f"base@{candidate.version_id}" if candidate is not None else "base"
    common = dict(roles=roles, progress=progress, limit=config.eval_limit, split=config.eval_split,
                  concurrency=config.concurrency, plots=True)
    out: dict[str, EvalResult] = {}
    try:
        with stage(f"eval base ({when})"):
            out["base"] = evaluate(settings, store, target, [config.suite], out_dir=folder / "base", **common)
        if not config.skip_graph_eval:
            with stage(f"eval graph ({when})"):
                out["graph"] = evaluate(settings, store, f"graph:{config.graph_spec}", [config.suite],
                                        out_dir=folder / "graph", versions=versions, **common)
    finally:
        runtime.close()
    return out


def _datagen(settings: Settings, store: Any, config: LoopConfig, constitution: Constitution, progress: bool,
             log: Callable[[str], None]) -> dict[str, Any]:
    """Run the data-generation graph (run kind datagen) on training prompts; the store keeps the trajectories."""
    from oversight.graph.build import compile_spec
    from oversight.graph.checkpoints import open_checkpointer
    from oversight.graph.context import GraphContext
    from oversight.graph.runner import run_prompts

    spec, roles, versions, runtime, spec_constitution = _roles(settings, store, config.datagen_spec, None, log)
    prompts = training_prompts(spec_constitution, config.datagen_prompts, config.harmful_share, config.seed)
    run_id = f"loop-datagen-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
    try:
        ctx = GraphContext(roles=roles, constitution=spec_constitution, spec=spec, store=store, run_id=run_id,
                           versions=versions, run_kind="datagen")
        with open_checkpointer(settings) as saver:
            graph = compile_spec(spec, checkpointer=saver)
            result = run_prompts(graph, ctx, prompts, concurrency=config.concurrency, progress=progress)
    finally:
        runtime.close()
    routes: dict[str, int] = {}
    for r in result.results:
        routes[r.route] = routes.get(r.route, 0) + 1
    log(f"datagen run {run_id}: {len(prompts)} prompts, routes {routes}")
    return {"run_id": run_id, "prompts": len(prompts), "routes": routes}
