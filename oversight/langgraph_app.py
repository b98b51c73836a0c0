"""The default oversight graph for `langgraph dev` / `langgraph up` (see langgraph.json).

The server brings its own checkpointer and cannot pass live objects as run
context, so the nodes fall back to a context built here on first use: the
embedded default model with its trained roles, the default constitution and the
store named by the environment (OVERSIGHT_HOME / OVERSIGHT_DATABASE_URL).
Threads the server starts are stored under the run `langgraph-dev`, one
trajectory per `prompt_id`; an escalated prompt pauses as a LangGraph interrupt
that a client resumes with `Command(resume={"action": ...})`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from oversight.graph.build import compile_spec
from oversight.graph.context import GraphContext
from oversight.graph.spec import GraphSpec, load_spec
from oversight.settings import Settings

RUN_ID = "langgraph-dev"
_SETTINGS = Settings.from_env()
_SPEC = load_spec("default", _SETTINGS.project_dir)


def build_context(spec: GraphSpec = _SPEC, settings: Settings = _SETTINGS) -> GraphContext:
    """The trained roles (trained the first time), constitution and store; registers the run."""
    from oversight.constitution import load_constitution
    from oversight.graph.runner import start_run
    from oversight.roles import load_roles
    from oversight.store import Store
    from oversight.train.bootstrap import build_roles

    constitution = load_constitution(spec.constitution, settings.project_dir)
    roles_file = load_roles(spec.roles, settings.project_dir)
    store = Store.open(settings)
    roles, versions, _runtime = build_roles(settings, store, roles_file, constitution, progress=False)
    context = GraphContext(roles=roles, constitution=constitution, spec=spec, store=store,
                           run_id=RUN_ID, versions=versions)
    start_run(context)
    return context


class LazyContext:
    """Builds the context once, on the first request (loading the model takes a while)."""

    def __init__(self, build: Callable[[], GraphContext]) -> None:
        self.build = build
        self._lock = threading.Lock()
        self._context: GraphContext | None = None

    def __call__(self) -> GraphContext:
        with self._lock:
            if self._context is None:
                self._context = self.build()
            return self._context


context = LazyContext(build_context)
graph = compile_spec(_SPEC, default_context=context, typed_context=False)
