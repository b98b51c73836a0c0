"""The default oversight graph for `langgraph dev` (see langgraph.json).

The server brings its own checkpointer and cannot pass live objects as run
context, so the nodes fall back to a context built here on first use: the
embedded default model with its trained roles, the default constitution and the
store named by the environment (OVERSIGHT_HOME / OVERSIGHT_DATABASE_URL).
"""

from __future__ import annotations

import threading

from oversight.graph.context import GraphContext
from oversight.graph.spec import compile_spec, load_spec
from oversight.settings import Settings

_SETTINGS = Settings.from_env()
_SPEC = load_spec("default", _SETTINGS.project_dir)


class _LazyContext:
    """Builds the context (loads and, the first time, trains the roles) on the first request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: GraphContext | None = None

    def __call__(self) -> GraphContext:
        with self._lock:
            if self._context is None:
                from oversight.constitution import load_constitution
                from oversight.train.bootstrap import build_roles
                from oversight.graph.runner import start_run
                from oversight.roles import load_roles
                from oversight.store import Store

                constitution = load_constitution(_SPEC.constitution, _SETTINGS.project_dir)
                roles_file = load_roles(_SPEC.roles, _SETTINGS.project_dir)
                store = Store.open(_SETTINGS)
                roles, versions, _runtime = build_roles(_SETTINGS, store, roles_file, constitution,
                                                        progress=False)
                self._context = GraphContext(roles=roles, constitution=constitution, spec=_SPEC,
                                             store=store, run_id="langgraph-dev", versions=versions)
                start_run(self._context)
            return self._context


graph = compile_spec(_SPEC, default_context=_LazyContext(), typed_context=False)
