"""Operating the store: `status`, `store copy` (SQLite -> PostgreSQL) and `store purge`, on both backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from oversight.cli.main import main
from oversight.errors import OversightError
from oversight.settings import Settings
from oversight.store import (
    CandidateRecord,
    CritiqueRecord,
    JudgmentRecord,
    PreferenceRecord,
    Store,
    TrajectoryRecord,
    active_version,
    enqueue_review,
    ensure_run,
    mark_applied,
    mark_pairs_used,
    record_decision,
    register_version,
    save_trajectory,
)
from oversight.store.copy import copy_store, copied_tables, row_counts
from oversight.store.purge import purge
from oversight.store.tables import Candidate, Critique, Judgment, PreferencePair, RetrainRun, ReviewItem, Run, \
    Trajectory
from tests.conftest import PG_URL

ODD = "prompt with odd text: ünïcödé \u202e \U0001f600 \t 中文"


def _trajectory(run_id: str, prompt_id: str, route: str = "revised", status: str = "done") -> TrajectoryRecord:
    critique = CritiqueRecord(principle_id="privacy", violation_prob=0.8, violated=True, text="leaks an address")
    return TrajectoryRecord(
        run_id=run_id, prompt_id=prompt_id, prompt=f"{ODD} {prompt_id}", route=route, status=status,  # type: ignore[arg-type]
        final_response=None if status != "done" else "revised answer",
        candidates=[CandidateRecord(index=0, text="draft", critiques=[critique]),
                    CandidateRecord(index=1, text="revised answer", source="reviser", round=1)],
        judgments=[JudgmentRecord(a_index=0, b_index=1, prob_b_better=0.9)],
        preference_pairs=[PreferenceRecord(prompt=prompt_id, chosen=f"revised {prompt_id}", rejected="draft",
                                           probability=0.9, source="ai", constitution_hash="c1")])


def populate(store: Store, run_id: str = "run-a", *, pending: bool = True) -> None:
    """Two runs' worth of everything the store keeps: trajectories, pairs, reviews, versions, a retrain."""
    store.migrate()
    ensure_run(store, run_id, graph_name="default", graph_hash="g1", constitution_name="default",
               constitution_hash="c1")
    for n in range(3):
        save_trajectory(store, _trajectory(run_id, f"p{n}"))
    if pending:
        tid = save_trajectory(store, _trajectory(run_id, "waiting", "escalated", "pending_review"))
        enqueue_review(store, f"{run_id}:waiting", run_id, "waiting", "judge unsure", ["judge unsure"], {},
                       trajectory_id=tid)
    done_id = save_trajectory(store, _trajectory(run_id, "reviewed", "escalated"))
    item = enqueue_review(store, f"{run_id}:reviewed", run_id, "reviewed", "why", ["why"], {}, trajectory_id=done_id)
    record_decision(store, item, {"action": "accept"}, "alice")
    mark_applied(store, item)
    register_version(store, "judge", "head", "/v/1", "HuggingFaceTB/SmolLM2-135M-Instruct", {"accuracy": 0.9})
    with store.session() as session:
        session.add(RetrainRun(role="base", stage="rejected", summary="gate: win rate 0.48 < 0.55",
                               finished_at=datetime.now(timezone.utc)))


def counts(store: Store) -> dict[str, int]:
    return {k: v for k, v in row_counts(store).items() if v}


def test_copy_sqlite_to_postgresql_keeps_every_row_and_refuses_a_full_target(
        settings: Settings, postgres_admin: object, make_store: Callable[[], Store],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    source = Store.open(settings)
    populate(source)
    target = make_store()  # parametrised: an empty SQLite file or an empty PostgreSQL schema
    if target.is_sqlite:
        target = Store(f"sqlite:///{settings.home / 'copy.db'}")
    report = copy_store(source, target)
    assert counts(target) == counts(source) and report.total == sum(counts(source).values())
    assert {"runs", "trajectories", "candidates", "critiques", "judgments", "preference_pairs", "review_items",
            "model_versions", "retrain_runs"} <= set(counts(target))
    with target.session() as session:  # values survive the trip, odd Unicode and timestamps included
        prompt = session.scalar(select(Trajectory.prompt).where(Trajectory.prompt_id == "p0"))
        assert prompt == f"{ODD} p0"
    assert active_version(target, "judge").metrics_json == {"accuracy": 0.9}  # type: ignore[union-attr]
    # Ids were copied; new rows on the target must not collide with them (PostgreSQL sequences advanced).
    ensure_run(target, "run-b", graph_name="default", graph_hash="g1", constitution_name="default",
               constitution_hash="c1")
    save_trajectory(target, _trajectory("run-b", "q"))
    with pytest.raises(OversightError, match=r"is not empty \(.*runs 2, .*trajectories 6"):
        copy_store(source, target)
    assert copy_store(source, target, force=True).replaced > 0
    assert counts(target) == counts(source)


def test_store_copy_command(settings: Settings, postgres_admin: object, make_store: Callable[[], Store],
                            capsys: pytest.CaptureFixture[str]) -> None:
    populate(Store.open(settings))
    target = make_store()
    if target.is_sqlite:
        pytest.skip("the command test copies to PostgreSQL")
    with target.connect() as conn:
        search_path = conn.exec_driver_sql("SHOW search_path").scalar_one()
    url = f"{PG_URL}?options=-csearch_path%3D{search_path}"
    assert main(["store", "copy", "--to", url]) == 0
    out = capsys.readouterr().out
    assert "trajectories" in out and "counts match" in out and "note: 1 review item(s) are open" in out
    assert main(["store", "copy", "--to", url]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["store", "copy", "--to", url, "--force"]) == 0


def test_purge_refuses_what_a_review_or_the_active_version_needs(make_store: Callable[[], Store]) -> None:
    store = make_store()
    populate(store)
    before = counts(store)
    with pytest.raises(OversightError, match=r"refused: 1 selected prompt\(s\) still wait for a review"):
        purge(store, run_id="run-a")
    assert counts(store) == before  # nothing deleted
    populate(store, "run-b", pending=False)
    before = counts(store)
    with store.session() as session:
        pair = session.scalar(select(PreferencePair.id).join(Trajectory).where(Trajectory.run_id == "run-b").limit(1))
    version = active_version(store, "judge").id  # type: ignore[union-attr]
    mark_pairs_used(store, [pair], version)
    with pytest.raises(OversightError, match=r"trained version \d+ of judge, which is active"):
        purge(store, run_id="run-b")
    assert counts(store) == before


def test_purge_a_run_and_a_date_range(make_store: Callable[[], Store]) -> None:
    store = make_store()
    populate(store, "old", pending=False)
    populate(store, "new", pending=False)
    populate(store, "busy", pending=True)
    with store.session() as session:  # "old" happened last month
        month_ago = datetime.now(timezone.utc) - timedelta(days=30)
        for table in (Run, Trajectory):
            column = table.id if table is Run else table.run_id
            session.execute(update(table).where(column == "old").values(created_at=month_ago))
        session.execute(update(PreferencePair).where(PreferencePair.prompt.like("%")).values(created_at=month_ago)
                        .where(PreferencePair.trajectory_id.in_(select(Trajectory.id).where(Trajectory.run_id == "old"))))
    dry = purge(store, before=datetime.now(timezone.utc) - timedelta(days=7), dry_run=True)
    assert (dry.runs, dry.trajectories, dry.pairs, dry.review_items) == (1, 4, 4, 1)
    assert counts(store)["runs"] == 3
    done = purge(store, before=datetime.now(timezone.utc) - timedelta(days=7))
    assert (done.runs, done.trajectories, done.pairs, done.review_items) == (1, 4, 4, 1)
    assert sorted(done.threads)[0] == ("old", "p0")
    report = purge(store, run_id="new")
    assert (report.runs, report.trajectories) == (1, 4)
    with store.session() as session:
        assert session.scalars(select(Run.id)).all() == ["busy"]
        left = session.scalar(select(func.count()).select_from(Trajectory))
        orphans = [session.scalar(select(func.count()).select_from(t)) for t in (Candidate, Critique, Judgment)]
        assert left == 5 and orphans == [10, 5, 5]  # children went with their trajectories (cascade)
        assert session.scalar(select(func.count()).select_from(ReviewItem)) == 2


def test_store_purge_command_deletes_checkpoints_too(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    from oversight.graph.checkpoints import count_checkpoints, open_checkpointer

    populate(Store.open(settings), "r1", pending=False)
    with open_checkpointer(settings) as saver:
        for prompt in ("p0", "p1"):
            config = {"configurable": {"thread_id": f"r1:{prompt}", "checkpoint_ns": ""}}
            saver.put(config, empty_checkpoint(), {"source": "input", "step": 0}, {})
    from oversight.store.leases import release, try_acquire

    store = Store.open(settings)
    assert try_acquire(store, "run:r1", "another-host:123", ttl_s=60) is not None  # a live run holds it
    assert main(["store", "purge", "--run", "r1"]) == 2
    assert "is in progress" in capsys.readouterr().err
    release(store, "run:r1", "another-host:123")
    assert main(["store", "purge", "--run", "r1", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == ("run r1: would delete 1 run(s), 4 trajectories, 4 preference pair(s), "
                                               "1 review item(s)")
    assert main(["store", "purge", "--run", "r1"]) == 0
    assert capsys.readouterr().out.strip().endswith("1 review item(s), 2 checkpoint(s)")
    with open_checkpointer(settings) as saver:
        assert count_checkpoints(saver, "r1:p0") == 0
    assert main(["store", "purge", "--before", "yesterday"]) == 2
    assert "is not a date" in capsys.readouterr().err
    assert main(["store", "purge", "--run", "r1"]) == 2
    assert capsys.readouterr().err.strip() == "error: no run named 'r1'"


def test_status_reports_queue_versions_runs_retrain_and_disk(settings: Settings, make_store: Callable[[], Store],
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["status"]) == 0
    empty = capsys.readouterr().out
    assert "review queue: empty" in empty and "last runs: none" in empty and "last retrain: none" in empty
    store = make_store()
    if not store.is_sqlite:
        with store.connect() as conn:
            search_path = conn.exec_driver_sql("SHOW search_path").scalar_one()
        monkeypatch.setenv("OVERSIGHT_DATABASE_URL", f"{PG_URL}?options=-csearch_path%3D{search_path}")
    populate(store)
    (settings.adapters_dir / "judge").mkdir(parents=True)
    (settings.adapters_dir / "judge" / "head.safetensors").write_bytes(b"\0" * 4096)
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "review queue: 1 open (applied 1, pending 1); oldest #1 since" in text
    assert "judge    model smollm2" in text and "version 1 (head), active since" in text
    assert "run-a  production running" in text and "escalated 2, revised 3" in text
    assert "last retrain: #1 (base) rejected" in text and "gate: win rate 0.48 < 0.55" in text
    assert "adapters 4.0 KB" in text
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["queue"]["open_items"] == 1 and data["runs"][0]["routes"] == {"escalated": 2, "revised": 3}
    assert data["roles"]["judge"]["active_version"]["id"] == 1 and data["retrain"]["stage"] == "rejected"
    assert data["disk_bytes"]["adapters"] == 4096 and data["disk_bytes"]["store"] > 0


def test_every_table_but_leases_is_copied() -> None:
    assert {t.name for t in copied_tables()} >= {"runs", "trajectories", "model_versions", "review_items"}
    assert "leases" not in {t.name for t in copied_tables()}


def test_copy_refuses_copying_onto_itself(settings: Settings, tmp_path: Path) -> None:
    store = Store.open(settings)
    with pytest.raises(OversightError, match="same database"):
        copy_store(store, Store(settings.database_url))
