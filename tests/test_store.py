"""The store against SQLite (always) and PostgreSQL (when one runs on 127.0.0.1)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from oversight.errors import OversightError
from oversight.settings import Settings
from oversight.store import (
    CandidateRecord,
    CritiqueRecord,
    JudgmentRecord,
    PreferenceRecord,
    Store,
    TrajectoryRecord,
    activate,
    active_version,
    add_preference_pair,
    enqueue_review,
    ensure_run,
    finished_prompt_ids,
    get_review,
    get_trajectory,
    list_versions,
    mark_applied,
    mark_pairs_used,
    pending_reviews,
    preference_pairs,
    record_decision,
    register_version,
    run_summary,
    save_trajectory,
)
from oversight.store.tables import (
    Base,
    Candidate,
    Critique,
    ModelVersion,
    PreferencePair,
    Trajectory,
)

TABLES = set(Base.metadata.tables)
HASHES = {"graph_name": "default", "graph_hash": "g1", "constitution_name": "core",
          "constitution_hash": "c1"}


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    made = make_store()
    made.migrate()
    ensure_run(made, "r1", **HASHES)
    return made


def trajectory(prompt_id: str = "p1", answer: str = "final", n_candidates: int = 2,
               run_id: str = "r1", **fields: object) -> TrajectoryRecord:
    candidates = [
        CandidateRecord(index=i, round=i, text=f"{answer} candidate {i}",
                        source="base" if i == 0 else "reviser",
                        critiques=[CritiqueRecord(principle_id="harm", violation_prob=0.1 * i,
                                                  violated=i > 1, text=f"critique {i}")])
        for i in range(n_candidates)]
    judgments = [JudgmentRecord(a_index=0, b_index=i, prob_b_better=0.7,
                                prob_b_better_swapped=0.6)
                 for i in range(1, n_candidates)]
    pairs = [PreferenceRecord(prompt="q", chosen=f"{answer} candidate 1",
                              rejected=f"{answer} candidate 0", probability=0.7, source="ai",
                              constitution_hash="c1")] if n_candidates > 1 else []
    values: dict[str, object] = dict(
        run_id=run_id, prompt_id=prompt_id, prompt="q", final_response=answer,
        route="revised", route_reason="critic flagged harm", safety={"category": "none"},
        notices=["prompt truncated to 2048 tokens"], candidates=candidates,
        judgments=judgments, preference_pairs=pairs)
    values.update(fields)
    return TrajectoryRecord.model_validate(values)


def count(store: Store, model: type[Base]) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_migrate_creates_every_table_and_twice_is_a_noop(make_store: Callable[[], Store]) -> None:
    store = make_store()
    assert store.current_revisions() == ()
    store.migrate()
    assert store.current_revisions() == Store.head_revisions()
    names = set(inspect(store.engine).get_table_names())
    assert names == TABLES | {"alembic_version"}
    store.migrate()
    with store.connect() as conn:
        # One row per branch head (revisions after 0002 branch per feature area).
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == len(Store.head_revisions())
        # The hand-written migration must describe exactly the models.
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_open_creates_folder_and_upgrades_an_older_database(settings: Settings) -> None:
    bare = Store(settings.database_url.replace("oversight.db", "other.db"))
    with pytest.raises(OversightError, match="cannot open database"):
        bare.current_revisions()  # the data folder does not exist yet
    settings.ensure_home()
    old = Store(settings.database_url)
    old.migrate("base")  # a database from before the first revision
    assert old.current_revisions() == ()
    old.dispose()
    store = Store.open(settings)
    assert store.current_revisions() == Store.head_revisions()
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d' "
                          "WHERE version_num = (SELECT min(version_num) FROM alembic_version)"))
    store.dispose()
    with pytest.raises(OversightError, match="newer Oversight"):
        Store.open(settings)


def test_unreachable_server_is_a_user_error() -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    store = Store("postgresql+psycopg://postgres@127.0.0.1:1/none",
                  connect_args={"connect_timeout": 2})
    with pytest.raises(OversightError, match="cannot open database"):
        store.migrate()


def test_save_twice_keeps_one_row_with_latest_content(store: Store) -> None:
    first_id = save_trajectory(store, trajectory(answer="old", n_candidates=3))
    assert count(store, Critique) == 3
    second_id = save_trajectory(store, trajectory(answer="new", n_candidates=2, route="accepted"))
    assert first_id == second_id
    assert count(store, Trajectory) == 1
    assert count(store, Candidate) == 2
    assert count(store, Critique) == 2  # the old candidates' critiques went with them
    assert count(store, PreferencePair) == 1
    got = get_trajectory(store, "r1", "p1")
    assert got is not None and got.id == first_id
    assert got.final_response == "new" and got.route == "accepted"
    assert [c.text for c in got.candidates] == ["new candidate 0", "new candidate 1"]
    assert got.candidates[1].critiques[0].text == "critique 1"
    assert got.judgments[0].prob_b_better_swapped == 0.6
    assert got.preference_pairs[0].chosen == "new candidate 1"
    assert got.notices_json == ["prompt truncated to 2048 tokens"]
    assert got.safety_json == {"category": "none"}
    assert got.created_at is not None and got.created_at.tzinfo == timezone.utc
    assert get_trajectory(store, "r1", "missing") is None


def test_rewrite_keeps_pairs_a_model_was_trained_on(store: Store) -> None:
    save_trajectory(store, trajectory())
    [pair] = preference_pairs(store, unused_only=True)
    version = register_version(store, "critic", "adapter", "/a/1", "base-m", {"acc": 0.9})
    assert mark_pairs_used(store, [pair.id or 0], version) == 1
    save_trajectory(store, trajectory())  # same pair again: not duplicated
    assert count(store, PreferencePair) == 1
    assert preference_pairs(store, unused_only=True) == []
    human = PreferenceRecord(prompt="q", chosen="x", rejected="y", probability=1.0,
                             source="human", constitution_hash="c2")
    pair_id = add_preference_pair(store, human)
    assert add_preference_pair(store, human) == pair_id
    assert [p.chosen for p in preference_pairs(store, source="human")] == ["x"]
    assert [p.source for p in preference_pairs(store, constitution_hash="c1")] == ["ai"]


def test_finished_prompts_and_summary(store: Store) -> None:
    save_trajectory(store, trajectory("a"))
    save_trajectory(store, trajectory("b", route="escalated", status="pending_review"))
    save_trajectory(store, trajectory("c", route="error"))
    assert finished_prompt_ids(store, "r1") == {"a", "b", "c"}
    assert finished_prompt_ids(store, "r1", retry_errors=True) == {"a", "b"}
    summary = run_summary(store, "r1")
    assert summary["total"] == 3
    assert summary["routes"] == {"accepted": 0, "revised": 1, "escalated": 1, "refused": 0,
                                 "blocked": 0, "error": 1}
    assert summary["statuses"] == {"pending_review": 1, "done": 2}
    with pytest.raises(OversightError, match="ensure_run"):
        save_trajectory(store, trajectory(run_id="nope"))


def test_ensure_run_refuses_other_settings(store: Store) -> None:
    assert ensure_run(store, "r1", **HASHES) == "r1"
    with pytest.raises(OversightError, match="'r1' was already used with other settings"):
        ensure_run(store, "r1", **{**HASHES, "constitution_hash": "c2"})
    assert len(ensure_run(store, None, **HASHES)) == 32


def test_registry_keeps_one_active_per_role(store: Store) -> None:
    first = register_version(store, "critic", "adapter", "/a/1", "base-m", {"acc": 0.8})
    second = register_version(store, "critic", "adapter", "/a/2", "base-m", {"acc": 0.9},
                              constitution_hash="c1", notes="retrained")
    head = register_version(store, "judge", "head", "/h/1", "base-m", {})
    idle = register_version(store, "judge", "head", "/h/2", "base-m", {}, activate=False)
    current = active_version(store, "critic")
    assert current is not None and current.id == second and current.metrics_json == {"acc": 0.9}
    assert [v.active for v in list_versions(store, "critic")] == [False, True]
    assert activate(store, first).active
    assert [v.active for v in list_versions(store, "critic")] == [True, False]
    judge = active_version(store, "judge")
    assert judge is not None and judge.id == head and judge.kind == "head"
    activate(store, idle)
    assert [v.id for v in list_versions(store) if v.active] == [first, idle]
    assert active_version(store, "base") is None
    with pytest.raises(OversightError, match="no model version 999"):
        activate(store, 999)
    with pytest.raises(IntegrityError), store.session() as session:  # the index backs it up
        session.add(ModelVersion(role="critic", kind="adapter", path="/x", base_model="m",
                                 metrics_json={}, status="active"))


def test_queue_is_idempotent_and_decides_once(store: Store) -> None:
    item = enqueue_review(store, "t1", "r1", "p1", "critic unsure", ["low_confidence"],
                          {"prompt": "q"})
    assert enqueue_review(store, "t1", "r1", "p1", "again", [], {}) == item
    other = enqueue_review(store, "t2", "r1", "p2", "always human", ["category"], {})
    assert [r.id for r in pending_reviews(store)] == [item, other]
    assert [r.id for r in pending_reviews(store, limit=1)] == [item]
    decided = record_decision(store, item, {"action": "accept"}, reviewer="ana")
    assert decided.status == "decided" and decided.decision_json == {"action": "accept"}
    with pytest.raises(OversightError, match=f"review {item} was already decided"):
        record_decision(store, item, {"action": "reject"}, reviewer="bo")
    with pytest.raises(OversightError, match="has no decision yet"):
        mark_applied(store, other)
    mark_applied(store, item)
    review = get_review(store, item)
    assert review is not None and review.status == "applied" and review.reviewer == "ana"
    assert review.payload_json == {"prompt": "q"} and review.reasons_json == ["low_confidence"]
    assert [r.id for r in pending_reviews(store)] == [other]
    assert get_review(store, 999) is None


def test_concurrent_saves_from_eight_threads_all_land(store: Store) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for k in range(3):
                save_trajectory(store, trajectory(f"t{n}-{k}", n_candidates=3))
            save_trajectory(store, trajectory(f"t{n}-0", answer="again"))  # a rewrite too
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    _run_in_threads(worker, 8)
    assert errors == []
    assert len(finished_prompt_ids(store, "r1")) == 24
    assert count(store, Trajectory) == 24
    assert count(store, Candidate) == 8 * 2 + 16 * 3


def test_racing_saves_of_one_prompt_leave_one_row(store: Store) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            save_trajectory(store, trajectory("same", answer=f"answer {n}"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    _run_in_threads(worker, 8)
    assert errors == []
    assert count(store, Trajectory) == 1 and count(store, Candidate) == 2
    got = get_trajectory(store, "r1", "same")
    assert got is not None and got.candidates[0].text == f"{got.final_response} candidate 0"


def _run_in_threads(worker: Callable[[int], None], count: int) -> None:
    """Start `count` threads running worker(n) and wait for all of them."""
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
