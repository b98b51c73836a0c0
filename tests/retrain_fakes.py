"""Scripted trainer and evaluator for the retraining job's routing tests (locks, crashes, resumes).

The trainer writes a real version folder and registers a real candidate; the evaluator
returns real `EvalResult`s whose rates and held-out preference margins the test chooses per
version (by default each newer version ranks the held-out pairs a little better, so the gate
sees an improvement). The job's end-to-end test on the embedded model
(tests/test_retrain_model.py, marked `model`) uses the real parts.

Run as a script (`python tests/retrain_fakes.py HOME MARKER`) it starts a retrain whose
training stage signals MARKER and then blocks, so a test can SIGKILL it mid-training.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oversight.eval.result import (BENIGN_REFUSAL, HARMFUL_COMPLIANCE, HELPFULNESS, JAILBREAK_SUCCESS, EvalResult,
                                   PairScore)
from oversight.runtime.versions import VersionManifest
from oversight.settings import Settings
from oversight.store import Store, register_version
from oversight.train.retrain import HeldOut, RetrainJob
from oversight.train.retrain_config import RetrainConfig, Stage

BASE_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
GOOD = {HARMFUL_COMPLIANCE: (2, 20), JAILBREAK_SUCCESS: (3, 20), BENIGN_REFUSAL: (1, 20), HELPFULNESS: (10, 20)}
WORSE = {**GOOD, HARMFUL_COMPLIANCE: (9, 20)}


class ScriptedTrainer:
    """Registers a candidate per stage (a folder with a manifest and an adapter file), like train_base."""

    def __init__(self, settings: Settings, store: Store, before: Callable[[Stage], None] = lambda _s: None) -> None:
        self.settings, self.store, self.before, self.calls = settings, store, before, []

    def __call__(self, stage: Stage, overrides: list[str], dataset: Path, parent: int | None) -> int:
        self.calls.append((stage.algo, overrides, dataset, parent))
        folder = self.settings.adapters_dir / "base" / datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        (folder / "adapter").mkdir(parents=True)
        self.before(stage)
        (folder / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
        VersionManifest(role="base", kind="adapter", adapter="adapter").write(folder)
        return register_version(self.store, "base", "adapter", str(folder), BASE_MODEL, activate=False,
                                parent_id=parent, algorithm=stage.algo, recipe={"file": stage.recipe},
                                started_from="active" if parent else "bare")


class ScriptedEvaluator:
    """Rates per version id (None: the bare model); unknown versions score `default`.

    Held-out preference margins per version come from `margins`, else `default_margins`, else
    `0.1 * version id` on three pairs: a newer version ranks them better, which the gate counts
    as an improvement.
    """

    def __init__(self, rates: dict[int | None, dict[str, tuple[int, int]]] | None = None,
                 default: dict[str, tuple[int, int]] = GOOD, margins: dict[int | None, list[float]] | None = None,
                 default_margins: list[float] | None = None) -> None:
        self.rates, self.default, self.margins, self.calls = rates or {}, default, margins or {}, []
        self.default_margins = default_margins

    def __call__(self, version_id: int | None, heldout: HeldOut) -> EvalResult:
        self.calls.append((version_id, heldout))
        rates = self.rates.get(version_id, self.default)
        margins = self.margins.get(version_id, self.default_margins or
                                   [0.1 * (version_id or 0) + shift for shift in (-0.2, 0.0, 0.2)])
        return EvalResult(run_id=f"eval-{version_id}", target=f"base@{version_id}", suite_hash="suite-1",
                          rates={name: {"k": k, "n": n} for name, (k, n) in rates.items()},
                          pairs=[PairScore(id=f"pair-{i}", chosen=-1.0 + m, rejected=-1.0)
                                 for i, m in enumerate(margins)])


def config(**changes: Any) -> RetrainConfig:
    plan: dict[str, Any] = {"min_new_trajectories": 5, "stages": [{"algo": "sft", "recipe": "base_sft"}],
                            "lease_ttl_s": 2.0, "keep_retired": 1}
    return RetrainConfig.model_validate({**plan, **changes})


def job(settings: Settings, store: Store, trainer: Any = None, evaluator: Any = None, fault: Any = None,
        **changes: Any) -> RetrainJob:
    return RetrainJob(settings, store, config(**changes), trainer or ScriptedTrainer(settings, store),
                      evaluator or ScriptedEvaluator(), BASE_MODEL, fault=fault or (lambda _p: None))


def main(home: str, marker: str) -> None:
    """Retrain with a trainer that signals `marker` mid-training and then blocks (until SIGKILL)."""
    settings = Settings(home=Path(home), database_url=f"sqlite:///{Path(home) / 'oversight.db'}")
    store = Store.open(settings)

    def block(_stage: Stage) -> None:
        Path(marker).write_text("training")
        time.sleep(600)

    job(settings, store, ScriptedTrainer(settings, store, before=block)).run()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
