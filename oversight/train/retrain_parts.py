"""The real trainer and evaluator the retraining job uses: train_base for each stage, oversight.eval for the gate.

The gate measures generated behaviour on the configured eval suites plus a suite
made of the export's held-out split (prompts no candidate trained on): refused or
blocked ones count as harmful items, the others as helpful items whose reference
is the stored final (revised or human) answer. The held-out preference pairs are
ranked by each version's likelihood (oversight/eval/preference.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oversight.settings import Settings
from oversight.store.db import Store
from oversight.train.retrain import Evaluator, HeldOut, RetrainJob, Trainer
from oversight.train.retrain_config import RetrainConfig, Stage

REFUSING_ROUTES = ("refused", "blocked")


def base_trainer(settings: Settings, store: Store, *, progress: bool, log: Callable[[str], None]) -> Trainer:
    """Each stage through `train_base` (a candidate version); later stages continue the previous candidate."""

    def train(stage: Stage, overrides: list[str], dataset: Path, parent: int | None) -> int:
        from oversight.train.base_trainer import train_base

        outcome = train_base(settings, store, algo=stage.algo, recipe=stage.recipe, overrides=overrides,
                             dataset=dataset, parent_version=parent, progress=progress, log=log)
        return outcome.version_id

    return train


def heldout_suite(rows: list[dict[str, str]]) -> Any:
    """The export's held-out rows as an eval suite (content-hashed like a suite file)."""
    from oversight.eval.suites import Suite, SuiteItem

    items = []
    for row in rows:
        refuse = row["route"] in REFUSING_ROUTES
        key = hashlib.sha256(row["prompt"].encode("utf-8")).hexdigest()[:12]
        items.append(SuiteItem(id=f"heldout-{key}", prompt=row["prompt"], suite="harmful" if refuse else "helpful",
                               category="heldout", expected="refuse" if refuse else "comply", split="test",
                               reference=None if refuse else row["response"]))
    digest = hashlib.sha256("".join(i.model_dump_json() for i in items).encode()).hexdigest()
    return Suite(name="heldout", path="(export held-out split)", content_hash=digest, items=items)


class SuiteEvaluator:
    """Evaluates base versions with oversight.eval on one runtime, the trained judge scoring helpfulness."""

    def __init__(self, settings: Settings, store: Store, config: RetrainConfig, *, progress: bool,
                 log: Callable[[str], None], runtime: Any = None) -> None:
        self.settings, self.store, self.config, self.progress, self.log = settings, store, config, progress, log
        self.runtime, self._own_runtime, self._roles = runtime, runtime is None, None

    def __call__(self, version_id: int | None, heldout: HeldOut) -> Any:
        from oversight.eval.preference import make_pair
        from oversight.eval.runner import evaluate
        from oversight.eval.suites import load_suites

        suites = load_suites(self.config.eval.suites, self.settings.project_dir)
        if heldout.rows:
            suites = [*suites, heldout_suite(heldout.rows)]
        pairs = [make_pair(p["prompt"], p["chosen"], p["rejected"], p["source"]) for p in heldout.pairs]
        target = f"base@{version_id}" if version_id is not None else "base"
        result = evaluate(self.settings, self.store, target, suites, runtime=self._runtime(), roles=self._judge(),
                          progress=self.progress, limit=self.config.eval.limit, split=self.config.eval.split,
                          plots=False, pairs=pairs)
        self.log(f"retrain: evaluated {target} -> {result.run_dir}")
        return result

    def _runtime(self) -> Any:
        if self.runtime is None:
            from oversight.runtime import Runtime

            self.runtime = Runtime(self.settings.models_dir, device=self.settings.device)
        return self.runtime

    def _judge(self) -> Any:
        if self._roles is None:
            from oversight.constitution import load_constitution
            from oversight.roles import load_roles
            from oversight.train.bootstrap import build_roles

            roles_file = load_roles("default", self.settings.project_dir)
            constitution = load_constitution("default", self.settings.project_dir)
            self._roles, _versions, _runtime = build_roles(self.settings, self.store, roles_file, constitution,
                                                           progress=self.progress, log=self.log,
                                                           runtime=self._runtime())
        return self._roles

    def close(self) -> None:
        if self._own_runtime and self.runtime is not None:
            self.runtime.close()
            self.runtime = None


def build_job(settings: Settings, store: Store, config: RetrainConfig, *, progress: bool = True,
              log: Callable[[str], None] = lambda _m: None, runtime: Any = None) -> tuple[RetrainJob, SuiteEvaluator]:
    """The job with its real parts (close the evaluator after the run); the base model is the roles file's."""
    from oversight.roles import load_roles

    roles = load_roles("default", settings.project_dir)
    evaluator = SuiteEvaluator(settings, store, config, progress=progress, log=log, runtime=runtime)
    job = RetrainJob(settings, store, config, base_trainer(settings, store, progress=progress, log=log), evaluator,
                     roles.model_for(config.role).hub_id, log=log)
    return job, evaluator


__all__ = ["Evaluator", "HeldOut", "SuiteEvaluator", "base_trainer", "build_job", "heldout_suite"]
