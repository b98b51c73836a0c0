"""Decisions resume the paused graph thread from a fresh process, and a crash in between is recovered."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from oversight.constitution import load_constitution
from oversight.graph.build import compile_spec
from oversight.graph.context import GraphContext
from oversight.graph.inputs import Prompt
from oversight.graph.runner import open_checkpointer, run_prompts
from oversight.graph.spec import ADDED_FIELDS, load_spec
from oversight.review import ReviewConfig, ReviewService
from oversight.settings import PROJECT_DIR, Settings
from oversight.store import Store, get_review, get_trajectory, preference_pairs
from oversight.store.tables import Trajectory
from tests.conftest import PG_URL
from tests.review_seed import APPLY_SCRIPT, BAD, FIXED, scripted_roles


def escalate(settings: Settings, store: Store, run_id: str = "r1", overrides: list[str] | None = None) -> int:
    """Run prompt "q" through the default graph with scripted roles: it waits for a human."""
    spec = load_spec("default", settings.project_dir, overrides)
    ctx = GraphContext(roles=scripted_roles(), constitution=load_constitution(spec.constitution, settings.project_dir),
                       spec=spec, store=store, run_id=run_id, versions={"base": "bare"})
    with open_checkpointer(settings) as saver:
        [result] = run_prompts(compile_spec(spec, checkpointer=saver), ctx, [Prompt("p0", "q")]).results
    assert result.status == "pending_review"
    [item] = ReviewService(store, ReviewConfig(), PROJECT_DIR).list_items()
    return item.id


def apply_elsewhere(mode: str = "normal") -> subprocess.CompletedProcess[str]:
    """The apply script in a fresh Python process (same data folder, via the inherited environment)."""
    return subprocess.run([sys.executable, "-c", APPLY_SCRIPT, mode], cwd=PROJECT_DIR, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, isolated_home: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The data folder's settings; on PostgreSQL, store and checkpoints in a fresh schema (fresh processes too)."""
    if request.param == "sqlite":
        yield Settings.from_env()
        return
    admin = request.getfixturevalue("postgres_admin")
    schema = f"oversight_review_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    monkeypatch.setenv("OVERSIGHT_DATABASE_URL", f"{PG_URL}?options=-csearch_path%3D{schema}")
    yield Settings.from_env()
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    yield s
    s.dispose()


def decide(store: Store, item: int, decision: dict[str, Any]) -> None:
    service = ReviewService(store, ReviewConfig(), PROJECT_DIR)
    ana, _ = service.add_user("ana", "reviewer")
    service.claim(ana, item)
    assert service.decide(ana, item, decision).status == "decided"


def test_decision_resumes_the_thread_from_a_fresh_process_and_stores_human_pairs(
        settings: Settings, store: Store) -> None:
    item = escalate(settings, store)
    view = ReviewService(store, ReviewConfig(), PROJECT_DIR).list_items()[0]
    assert view.reason_kinds == ["judge-unsure"] and view.category == "safety"
    decide(store, item, {"action": "choose", "candidate": 1, "ranking": [1, 0],
                         "violations": {"0": ["harmful-instructions"]}, "note": "the revision declines"})
    assert get_trajectory(store, "r1", "p0").status == "pending_review"  # recorded, not applied yet
    done = apply_elsewhere()
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["ok"] and outcome["final_response"] == FIXED and outcome["human_pairs"] == 1
    stored = get_trajectory(store, "r1", "p0")
    assert stored.status == "done" and stored.final_response == FIXED and stored.route == "revised"
    assert "ana decided 'choose'" in stored.route_reason
    [pair] = preference_pairs(store, source="human")
    assert (pair.chosen, pair.rejected, pair.reviewer) == (FIXED, BAD, "ana")
    assert pair.review_seconds is not None and pair.review_seconds >= 0
    assert pair.principles_json == ["harmful-instructions"] and pair.trajectory_id == stored.id
    assert get_review(store, item).status == "applied"
    again = apply_elsewhere()
    assert again.returncode == 0 and json.loads(again.stdout.strip().splitlines()[-1]) == []


def test_a_thread_paused_before_the_delivery_fields_existed_resumes_after_the_upgrade(
        settings: Settings, store: Store) -> None:
    """A trajectory stored before 2026-12-06 holds a spec without the delivery and escalation fields added
    since (graph/spec.py ADDED_FIELDS); it must keep its hash and decide as it did, so its review applies."""
    item = escalate(settings, store, overrides=[f"{s}.{f}={v}" for (s, f), v in ADDED_FIELDS.items()])
    with store.session() as session:  # the spec as the earlier release stored it: without those fields
        row = session.scalars(select(Trajectory).where(Trajectory.run_id == "r1")).one()
        spec = dict(row.extra_json["spec"])
        for section in {s for s, _ in ADDED_FIELDS}:
            spec[section] = {k: v for k, v in spec[section].items() if (section, k) not in ADDED_FIELDS}
        row.extra_json = {**row.extra_json, "spec": spec}
    decide(store, item, {"action": "refuse"})
    done = apply_elsewhere()
    assert done.returncode == 0, done.stderr
    [outcome] = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["ok"], outcome
    assert get_trajectory(store, "r1", "p0").status == "done" and get_review(store, item).status == "applied"


def test_crash_between_record_and_apply_is_recovered_by_apply(settings: Settings, store: Store) -> None:
    item = escalate(settings, store)
    decide(store, item, {"action": "edit", "text": "Call a locksmith.", "violations": {"0": ["harmful-instructions"],
                                                                                       "1": ["helpfulness"]}})
    crashed = apply_elsewhere("crash")  # dies after the graph resumed, before anything was marked
    assert crashed.returncode == 9, crashed.stderr
    assert get_review(store, item).status in ("decided", "applied")  # visible, never lost
    recovered = apply_elsewhere()
    assert recovered.returncode == 0, recovered.stderr
    outcomes = json.loads(recovered.stdout.strip().splitlines()[-1])
    assert [o["ok"] for o in outcomes] in ([True], [])
    stored = get_trajectory(store, "r1", "p0")
    assert stored.status == "done" and stored.final_response == "Call a locksmith."
    assert get_review(store, item).status == "applied"
    pairs = preference_pairs(store, source="human")
    assert {p.rejected for p in pairs} == {BAD, FIXED} and all(p.reviewer == "ana" for p in pairs)
    assert {p.rejected: p.principles_json for p in pairs} == {BAD: ["harmful-instructions"], FIXED: ["helpfulness"]}


def test_a_recorded_decision_waits_visibly_until_apply(settings: Settings, store: Store) -> None:
    """The process that recorded the decision is gone; nothing is applied until `apply` runs."""
    item = escalate(settings, store)
    decide(store, item, {"action": "refuse", "note": "not something to help with"})
    service = ReviewService(store, ReviewConfig(), PROJECT_DIR)
    assert [r.id for r in service.list_items(status="decided")] == [item]
    assert service.stats().by_status["decided"] == 1
    done = apply_elsewhere()
    assert done.returncode == 0, done.stderr
    stored = get_trajectory(store, "r1", "p0")
    assert stored.route == "refused" and stored.final_response == load_spec("default", PROJECT_DIR).safety.refusal_message
    assert service.stats().by_status == {"pending": 0, "admin": 0, "decided": 0, "applied": 1}
