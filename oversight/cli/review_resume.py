"""Resuming paused graph threads for the review queue, from the run's own record.

review/ may not build models (that is train/'s bootstrap), so the face builds the
`Resumer` it hands to `ReviewService.apply`: per run, the exact graph spec the run used
(stored with its trajectories), its constitution (checked against the run's hash), the
roles, the checkpointer, and a GraphContext with the run's id, so the thread resumes
in its own run and no second trajectory appears. The web worker uses it too.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from oversight.constitution import Constitution, load_constitution
from oversight.errors import OversightError
from oversight.settings import Settings
from oversight.store import Store, get_run, get_trajectory
from oversight.store.records import ReviewRecord

# (settings, store, roles file, constitution) -> (roles, versions, closeable or None)
RolesFactory = Callable[[Settings, Store, Any, Constitution], tuple[Any, dict[str, Any], Any]]


def default_roles(log: Callable[[str], None] | None = None) -> RolesFactory:
    """The trained roles of the data folder (what `graph` runs with)."""

    def build(settings: Settings, store: Store, roles_file: Any, constitution: Constitution
              ) -> tuple[Any, dict[str, Any], Any]:
        from oversight.train.bootstrap import build_roles

        return build_roles(settings, store, roles_file, constitution, progress=log is not None, log=log)

    return build


class GraphResumer:
    """A `review.Resumer`: call it with (item, decision); close it (or use `with`) when done."""

    def __init__(self, settings: Settings, store: Store, *, roles: str | None = None,
                 overrides: list[str] | None = None, roles_factory: RolesFactory | None = None) -> None:
        self.settings, self.store = settings, store
        self.roles_name, self.overrides = roles, list(overrides or [])
        self.roles_factory = roles_factory or default_roles()
        self._stack = ExitStack()
        self._saver: Any = None
        self._runs: dict[str, tuple[Any, Any]] = {}
        self._roles: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}

    def __enter__(self) -> GraphResumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()
        self._runs.clear()
        self._roles.clear()

    def _spec(self, item: ReviewRecord, run: Any) -> Any:
        from oversight.graph.spec import load_spec, stored_spec

        stored = get_trajectory(self.store, item.run_id, item.prompt_id)
        raw = (stored.extra_json.get("spec") if stored is not None else None) or None
        spec = stored_spec(raw) if raw else load_spec(run.graph_name, self.settings.project_dir)
        if spec.content_hash != run.graph_hash:
            raise OversightError(f"run {run.id} ran graph {run.graph_name} with hash {run.graph_hash}, but the "
                                 f"spec found has {spec.content_hash}; its threads cannot be resumed safely")
        return spec

    def _context(self, item: ReviewRecord) -> tuple[Any, Any]:
        if item.run_id in self._runs:
            return self._runs[item.run_id]
        from oversight.graph.context import GraphContext
        from oversight.graph.runner import open_checkpointer
        from oversight.graph.build import compile_spec
        from oversight.graph.sidecar import in_effect
        from oversight.roles import load_roles

        run = get_run(self.store, item.run_id)
        if run is None:
            raise OversightError(f"review item {item.id} names run {item.run_id!r}, which is not in the store")
        spec = self._spec(item, run)
        constitution = load_constitution(run.constitution_name, self.settings.project_dir)
        if constitution.content_hash != run.constitution_hash:
            raise OversightError(f"constitution {run.constitution_name} changed since run {run.id} "
                                 f"({constitution.content_hash} != {run.constitution_hash}); resume with the "
                                 "constitution the run used")
        roles_name = self.roles_name or spec.roles
        key = (roles_name, constitution.content_hash)
        roles_file = load_roles(roles_name, self.settings.project_dir, self.overrides)
        if key not in self._roles:
            roles, versions, closeable = self.roles_factory(self.settings, self.store, roles_file, constitution)
            if closeable is not None and hasattr(closeable, "close"):
                self._stack.callback(closeable.close)
            self._roles[key] = (roles, versions)
        roles, versions = self._roles[key]
        if self._saver is None:
            self._saver = self._stack.enter_context(open_checkpointer(self.settings))
        # a thread sent back to the reviser is decided again: with the calibrated thresholds when they fit
        thresholds = in_effect(self.settings, spec, constitution, roles_file, versions)
        ctx = GraphContext(roles=roles, constitution=constitution, spec=spec, store=self.store,
                           run_id=run.id, versions=versions, decision_spec=thresholds.decision_spec)
        self._runs[item.run_id] = (compile_spec(spec, checkpointer=self._saver), ctx)
        return self._runs[item.run_id]

    def __call__(self, item: ReviewRecord, decision: dict[str, Any]) -> Any:
        from oversight.graph.runner import resume

        graph, ctx = self._context(item)
        return resume(graph, ctx, item.thread_id, decision)
