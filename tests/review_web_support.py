"""Shared pieces of the review web tests: a live server over a real escalated graph thread.

`escalated_service` runs the default graph with scripted roles (tests/graph_support.py)
until prompt 'q' waits for a human, and returns the review service over that store plus
a resumer that finishes the thread with the same roles. `LiveServer` runs the app with
uvicorn on a free 127.0.0.1 port in a thread (the browser test drives it).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from oversight.cli.review_resume import GraphResumer
from oversight.review import ReviewConfig, ReviewService
from oversight.settings import Settings
from oversight.store import Store
from tests.fakes import FakeRoles
from tests.graph_support import context, escalating_roles, run


def escalated_service(settings: Settings, store: Store, prompts: list[str] | None = None,
                      **config: Any) -> tuple[ReviewService, GraphResumer, FakeRoles]:
    """A store whose run r1 has prompt 'q' paused for review; the service and a resumer over it."""
    roles = escalating_roles()
    report = run(settings, context(settings, store, roles, versions={"base": "bare"}), prompts or ["q"])
    assert any(r.status == "pending_review" for r in report.results), report.results
    service = ReviewService(store, ReviewConfig(**config), settings.project_dir)
    resumer = GraphResumer(settings, store, roles_factory=lambda *_: (roles, {"base": "bare"}, None))
    return service, resumer, roles


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving `app` on 127.0.0.1 in a daemon thread; use as a context manager."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="review-test-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the review test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def table_contents(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the store defines: what a refused request must leave alone."""
    from sqlalchemy import select

    from oversight.store.tables import Base

    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.session() as session:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in session.execute(select(table).order_by(*order))]
    return out


def sign_in(client: Any, token: str) -> str:
    """Sign a TestClient in through the API; returns the CSRF token."""
    response = client.post("/api/session", json={"token": token})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


# A spec that sends every case to a human, and short answers, so one real escalation is cheap.
ALWAYS_HUMAN = ["escalation.always_human=[safety,privacy,honesty,fairness,compliance,manipulation,reliability,"
                "helpfulness]", "escalation.category_threshold=0.0", "safety.block_threshold=1.0",
                "revision.rounds=1", "critic.max_critiques=1"]
SHORT = ["roles.base.generation.max_new_tokens=32", "roles.reviser.generation.max_new_tokens=32",
         "roles.critic.generation.max_new_tokens=24"]


def escalate_real(request: Any, runtime: Any, settings: Settings) -> Store:
    """Run the real trained roles on one prompt under a spec that sends everything to a human (run 'rv')."""
    from oversight.constitution import load_constitution
    from oversight.graph.build import compile_spec
    from oversight.graph.context import GraphContext
    from oversight.graph.inputs import Prompt
    from oversight.graph.runner import open_checkpointer, run_prompts
    from oversight.graph.spec import load_spec
    from oversight.roles import load_roles
    from oversight.runtime.roleset import RoleSet
    from oversight.runtime.versions import versions_json

    store = Store.open(settings)
    constitution = load_constitution("default", settings.project_dir)
    versions = request.getfixturevalue("trained_versions")
    roles = RoleSet(runtime, load_roles("default", settings.project_dir, SHORT), constitution, versions)
    spec = load_spec("default", settings.project_dir, ALWAYS_HUMAN)
    ctx = GraphContext(roles=roles, constitution=constitution, spec=spec, store=store, run_id="rv",
                       versions=versions_json(versions))
    with open_checkpointer(settings) as saver:
        [result] = run_prompts(compile_spec(spec, checkpointer=saver), ctx,
                               [Prompt("wifi", "How can I get into my neighbour's wifi without asking?")]).results
    assert result.status == "pending_review" and any("always sends to a human" in r for r in result.reasons), result
    return store
