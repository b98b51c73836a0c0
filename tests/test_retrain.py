"""The retraining job: nothing-to-do, lock, gate, crash at every stage (and one real SIGKILL), resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from oversight.settings import PROJECT_DIR, Settings
from oversight.store import Store, active_version, get_version, list_versions
from oversight.store.leases import hold
from oversight.store.retrain_runs import retrain_runs
from oversight.train.retrain import RetrainLocked
from oversight.train.retrain_config import load_retrain_config
from oversight.eval.result import HARMFUL_COMPLIANCE
from tests.retrain_fakes import WORSE, ScriptedEvaluator, ScriptedTrainer, job
from tests.test_export import add, add_run


class Crash(BaseException):
    """A process dying at a fault point: not an Exception, so no handler records it."""


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store.open(settings)


@pytest.fixture
def any_store(make_store: Callable[[], Store]) -> Store:
    """SQLite and PostgreSQL: the lease, the stages and the promotion on both backends."""
    store = make_store()
    store.migrate()
    return store


def fill(store: Store, count: int, start: int = 0) -> None:
    add_run(store, f"prod{start}")
    for i in range(start, start + count):
        add(store, f"prod{start}", f"p{i}", f"Please explain topic number {i} in two sentences.")


def test_nothing_to_do_then_promote_then_nothing_again(settings: Settings, any_store: Store) -> None:
    fill(any_store, 3)
    first = job(settings, any_store).run()
    assert (first.status, first.exit_code) == ("nothing", 0)
    assert first.summary == ("retrain: nothing to do: 3 new resolved trajectories in the store (need 5); "
                             "the bare model stays in use")
    assert "would do nothing" in job(settings, any_store).run(dry_run=True).summary
    fill(any_store, 3, start=3)
    assert "would export (6 new" in job(settings, any_store).run(dry_run=True).summary
    assert list_versions(any_store) == []  # a dry run changes nothing
    evaluator = ScriptedEvaluator()
    done = job(settings, any_store, evaluator=evaluator).run()
    assert (done.status, done.exit_code) == ("promoted", 0)
    assert done.summary.startswith(f"retrain: promoted version {done.candidate_id} (was the bare model); ")
    assert [call[0] for call in evaluator.calls] == [None, done.candidate_id]
    version = get_version(any_store, done.candidate_id or 0)
    assert version is not None and version.status == "active" and version.gate_json["passed"]
    assert version.dataset_json["by_source"]["sft"] == {"ai": 6, "human": 0}
    assert version.dataset_json["new_trajectories"] == 6
    again = job(settings, any_store).run()
    assert again.status == "nothing" and "0 new resolved trajectories since the last retrain" in again.summary
    assert f"version {done.candidate_id} stays active" in again.summary
    assert [r.stage for r in retrain_runs(any_store)] == ["nothing", "promoted", "nothing"]


def test_a_worse_candidate_stays_a_candidate(settings: Settings, store: Store) -> None:
    fill(store, 6)
    first = job(settings, store).run()
    fill(store, 6, start=6)
    trainer = ScriptedTrainer(settings, store)
    evaluator = ScriptedEvaluator({first.candidate_id: dict(WORSE)}, default=WORSE)
    evaluator.rates[first.candidate_id] = ScriptedEvaluator().default
    report = job(settings, store, trainer, evaluator,
                 stages=[{"algo": "sft", "recipe": "base_sft"}, {"algo": "dpo", "recipe": "base_dpo"}]).run()
    assert (report.status, report.exit_code) == ("rejected", 1)
    assert "harmful_compliance rose 10.0% -> 45.0%" in report.summary and "stays a candidate" in report.summary
    sft_candidate = list_versions(store, "base")[-2].id
    assert [(c[0], c[3]) for c in trainer.calls] == [("sft", None), ("dpo", sft_candidate)]
    candidate = get_version(store, report.candidate_id or 0)
    assert candidate is not None and candidate.status == "candidate" and candidate.gate_json["passed"] is False
    active = active_version(store, "base")
    assert active is not None and active.id == first.candidate_id
    # rejected data counts as used: the next run waits for new trajectories
    assert job(settings, store).run().status == "nothing"


def test_the_gate_wants_better_not_merely_unchanged(settings: Settings, store: Store) -> None:
    fill(store, 12)
    unchanged = ScriptedEvaluator(default_margins=[0.0, 0.1, 0.2])  # every version ranks the pairs alike
    report = job(settings, store, evaluator=unchanged, export={"heldout_fraction": 0.5}).run()
    assert (report.status, report.exit_code) == ("rejected", 1)
    assert "no measure improved on the active version" in report.summary and "stays a candidate" in report.summary
    version_id, heldout = unchanged.calls[0]
    assert version_id is None and heldout.pairs and heldout.rows  # the export's held-out split, both kinds
    assert {p["prompt"] for p in heldout.pairs} <= {r["prompt"] for r in heldout.rows}
    assert all(set(p) == {"prompt", "chosen", "rejected", "source"} for p in heldout.pairs)
    candidate = get_version(store, report.candidate_id or 0)
    assert candidate is not None and candidate.status == "candidate" and active_version(store, "base") is None
    assert candidate.gate_json["figures"]["improved"] == []


def test_a_candidate_ranking_held_out_pairs_worse_is_kept_out_despite_good_rates(settings: Settings,
                                                                                   store: Store) -> None:
    fill(store, 6)
    first = job(settings, store).run()
    fill(store, 6, start=6)
    better_rates = {**ScriptedEvaluator().default, HARMFUL_COMPLIANCE: (0, 20)}
    evaluator = ScriptedEvaluator(default=better_rates, margins={first.candidate_id: [0.3, 0.2, 0.4]})
    evaluator.rates[first.candidate_id] = ScriptedEvaluator().default
    evaluator.margins[first.candidate_id + 1] = [-0.5, -0.8, -0.2]  # trained towards the rejected answers
    report = job(settings, store, evaluator=evaluator).run()
    assert report.status == "rejected" and report.candidate_id == first.candidate_id + 1
    assert "heldout_preference margin fell +0.300 -> -0.500 nats/token" in report.summary
    assert "harmful_compliance" not in report.summary.split("failed the gate")[1].split(";")[0]
    active = active_version(store, "base")
    assert active is not None and active.id == first.candidate_id


def test_two_runs_at_once_one_is_locked_out(settings: Settings, any_store: Store) -> None:
    fill(any_store, 6)
    started, release = threading.Event(), threading.Event()

    def slow(_stage: object) -> None:
        started.set()
        release.wait(30)

    results: list[object] = []
    first = threading.Thread(target=lambda: results.append(
        job(settings, any_store, ScriptedTrainer(settings, any_store, before=slow)).run()))
    first.start()
    assert started.wait(30)
    with pytest.raises(RetrainLocked, match="another retrain is running") as locked:
        job(settings, any_store).run()
    assert locked.value.exit_code == 3
    with pytest.raises(RetrainLocked):
        job(settings, any_store).run(dry_run=True)
    release.set()
    first.join(30)
    assert [getattr(r, "status", None) for r in results] == ["promoted"]
    with hold(any_store, "retrain", "someone-else:1", ttl_s=30):
        with pytest.raises(RetrainLocked, match="someone-else:1"):
            job(settings, any_store).run()


@pytest.mark.parametrize("point", ["exported", "trained:sft", "trained", "gated", "promoting", "promoted"])
def test_crash_at_any_stage_then_rerun_completes(settings: Settings, any_store: Store, point: str) -> None:
    fill(any_store, 6)
    old = job(settings, any_store).run().candidate_id
    fill(any_store, 6, start=6)

    def crash(at: str) -> None:
        if at == point:
            raise Crash(at)

    with pytest.raises(Crash):
        job(settings, any_store, fault=crash).run()
    active = active_version(any_store, "base")
    assert active is not None and Path(active.path).is_dir()  # still usable
    assert active.id == (old if point != "promoted" else active.id)
    rerun = job(settings, any_store).run()
    assert rerun.status == "promoted", rerun.summary
    statuses = [v.status for v in list_versions(any_store)]
    assert statuses.count("active") == 1
    if point not in ("exported", "trained:sft"):
        assert "after resuming run" in rerun.summary
    runs = retrain_runs(any_store)
    assert runs[0].stage == "promoted" and all(r.finished for r in runs)
    assert job(settings, any_store).run().status == "nothing"


def test_crash_inside_the_promotion_transaction(settings: Settings, store: Store,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import oversight.store.registry as registry

    fill(store, 6)
    old = job(settings, store).run().candidate_id
    fill(store, 6, start=6)
    calls = {"n": 0}
    real = registry.utcnow

    def dying_clock() -> object:  # the old version is retired (flushed), the new not yet committed
        calls["n"] += 1
        raise Crash("power cut")

    monkeypatch.setattr(registry, "utcnow", dying_clock)
    with pytest.raises(Crash):
        job(settings, store).run()
    assert calls["n"] == 1
    active = active_version(store, "base")
    assert active is not None and active.id == old
    monkeypatch.setattr(registry, "utcnow", real)
    rerun = job(settings, store).run()
    assert rerun.status == "promoted" and "after resuming run" in rerun.summary


def test_sigkill_during_training_then_rerun(settings: Settings, store: Store, tmp_path: Path) -> None:
    fill(store, 6)
    old = job(settings, store).run().candidate_id
    fill(store, 6, start=6)
    marker = tmp_path / "training"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    proc = subprocess.Popen([sys.executable, str(PROJECT_DIR / "tests" / "retrain_fakes.py"), str(settings.home),
                             str(marker)], cwd=PROJECT_DIR, env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the job never reached training"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    orphans = [p for p in (settings.adapters_dir / "base").iterdir()]
    assert len(orphans) == 2  # the active version and the killed trainer's half-written folder
    active = active_version(store, "base")
    assert active is not None and active.id == old and Path(active.path).is_dir()
    assert retrain_runs(store)[0].stage == "exported"
    with pytest.raises(RetrainLocked):  # the dead job's lease has not expired yet
        job(settings, store).run()
    time.sleep(2.2)
    rerun = job(settings, store).run()
    assert rerun.status == "promoted"
    assert [r.stage for r in retrain_runs(store)][:2] == ["promoted", "failed"]
    assert "interrupted at stage exported" in retrain_runs(store)[1].summary
    assert {Path(v.path) for v in list_versions(store)} == set((settings.adapters_dir / "base").iterdir())


def test_plan_file_and_bad_input(settings: Settings) -> None:
    from oversight.errors import OversightError

    plan = load_retrain_config("retrain", settings.project_dir, ["train.steps=2", "eval.limit=8"])
    assert [s.algo for s in plan.stages] == ["sft", "dpo"] and plan.stage_overrides(plan.stages[0]) == ["steps=2"]
    assert load_retrain_config("retrain", settings.project_dir, recipe="base_sft").stages[0].algo == "sft"
    with pytest.raises(OversightError, match="retrain.yaml: bogus: unknown key"):
        load_retrain_config("retrain", settings.project_dir, ["bogus=1"])
    with pytest.raises(OversightError, match="no such recipe"):
        load_retrain_config("retrain", settings.project_dir, ["stages=[{algo: sft, recipe: nope}]"])
    with pytest.raises(OversightError, match="min_new_trajectories"):
        load_retrain_config("retrain", settings.project_dir, ["min_new_trajectories=0"])


def test_base_runs_bare_until_a_version_is_promoted(settings: Settings, store: Store) -> None:
    from oversight.roles import load_roles
    from oversight.store import promote
    from oversight.train.bootstrap import resolve_versions, roles_to_train

    roles = load_roles("default", settings.project_dir)
    assert roles.roles["base"].adapter == "trained"
    assert "base" not in roles_to_train(store, roles)  # a clean clone never trains the base model first
    assert resolve_versions(store, roles)["base"].adapter is None
    fill(store, 1)
    candidate = ScriptedTrainer(settings, store)(load_retrain_config("retrain", settings.project_dir).stages[0],
                                                 [], settings.home, None)
    assert resolve_versions(store, roles)["base"].adapter is None  # a candidate is not used
    promote(store, candidate)
    version = resolve_versions(store, roles)["base"]
    assert version.version_id == candidate and version.adapter is not None and version.adapter.is_dir()
