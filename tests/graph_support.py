"""Shared pieces of the graph tests: a store and checkpointer on each backend, scripted roles, a run.

`backend` yields Settings whose database URL is SQLite in the test's data
folder or a fresh schema on the local PostgreSQL (store and LangGraph
checkpoints both live there, as in production). Import it into a test module
to use it as a fixture.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from oversight.constitution import load_constitution
from oversight.graph.build import compile_spec
from oversight.graph.context import GraphContext
from oversight.graph.inputs import Prompt
from oversight.graph.leaks import trajectory_leaks
from oversight.graph.runner import RunReport, open_checkpointer, run_prompts
from oversight.graph.spec import GraphSpec, load_spec
from oversight.settings import Settings
from oversight.store import Store, finished_prompt_ids, get_trajectory
from oversight.store.tables import Trajectory
from tests.fakes import FakeRoles

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BAD = "Here is how to pick the lock: step 1..."
FIXED = "I can't help you break into a home, but a locksmith can let you in."


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Settings]:
    """Settings on SQLite, or on a schema of its own in the local PostgreSQL (dropped afterwards)."""
    if request.param == "sqlite":
        yield settings
        return
    admin = request.getfixturevalue("postgres_admin")
    schema = f"oversight_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield settings.with_(database_url=f"{PG_URL}?options=-csearch_path%3D{schema}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def escalating_roles() -> FakeRoles:
    """Prompt 'q' gets a harmful answer, a revision and an unsure judge: it escalates. Others pass."""
    return FakeRoles(answers={"q": BAD}, revisions={BAD: FIXED},
                     violations={BAD: {"harmful-instructions": 0.9}},
                     preferences={(BAD, FIXED): {"*": 0.55}})


def context(settings: Settings, store: Store | None, roles: Any, run_id: str = "r1",
            spec: GraphSpec | None = None, **extra: Any) -> GraphContext:
    spec = spec or load_spec("default", settings.project_dir)
    return GraphContext(roles=roles, constitution=load_constitution(spec.constitution, settings.project_dir),
                        spec=spec, store=store, run_id=run_id, **extra)


def run(settings: Settings, ctx: GraphContext, texts: list[str]) -> RunReport:
    with open_checkpointer(settings) as saver:
        graph = compile_spec(ctx.spec, checkpointer=saver)
        return run_prompts(graph, ctx, [Prompt(f"p{i}", t) for i, t in enumerate(texts)], concurrency=4)


def count_checkpoints(settings: Settings, thread: str) -> int:
    with open_checkpointer(settings) as saver:
        return sum(1 for _ in saver.list({"configurable": {"thread_id": thread}}))


def assert_no_leaks(store: Store, run_id: str, settings: Settings) -> int:
    """The leak check over every stored trajectory of a run (finals and model candidates); returns how many.

    Graph tests call it at the end, so no route can deliver or store internal text unnoticed.
    """
    checked = 0
    for prompt_id in sorted(finished_prompt_ids(store, run_id)):
        stored = get_trajectory(store, run_id, prompt_id)
        assert stored is not None
        spec = stored.extra_json.get("spec") or {}
        constitution = load_constitution(spec.get("constitution", "default"), settings.project_dir)
        notes = [n for n in [(spec.get("safety") or {}).get("middle_band_critique"),
                             (stored.extra_json.get("human") or {}).get("note")] if n]
        candidates = [c.model_dump() for c in stored.candidates]
        found = trajectory_leaks(stored.prompt, candidates, stored.final_response, constitution.principles, notes)
        assert not found, f"{run_id}/{prompt_id}: {found}"
        # a rewrite rejected for repeating its draft unchanged has the draft's text, which stays a candidate
        rejected = {r["text"] for r in stored.extra_json.get("rejected_revisions", [])
                    if r["reasons"] != ["it repeats the draft unchanged"]}
        assert not rejected & ({c["text"] for c in candidates} | {stored.final_response}), \
            f"{run_id}/{prompt_id}: a rejected revision became a candidate or the answer"
        assert not rejected & {t for p in stored.preference_pairs for t in (p.chosen, p.rejected)}, \
            f"{run_id}/{prompt_id}: a rejected revision is in a preference pair"
        checked += 1
    return checked


def assert_no_leaks_in_store(store: Store, settings: Settings) -> int:
    """`assert_no_leaks` over every run in the store (for a test's end); returns how many trajectories."""
    with store.session() as session:
        runs = sorted(set(session.scalars(select(Trajectory.run_id))))
    return sum(assert_no_leaks(store, run_id, settings) for run_id in runs)


@pytest.fixture(name="store")
def checked_store(settings: Settings) -> Iterator[Store]:
    """The store of a graph test; the test ends with the leak check over every stored trajectory.
    Import `checked_store` into a test module to get it as the fixture `store`."""
    s = Store.open(settings)
    yield s
    assert_no_leaks_in_store(s, settings)
    s.dispose()
