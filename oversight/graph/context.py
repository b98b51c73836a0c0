"""Per-run settings handed to every node as LangGraph's run context.

The context holds live objects (the roles with their loaded model, the store),
so it travels with `invoke(..., context=...)` and never into a checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oversight.constitution import Constitution, Principle
from oversight.graph.spec import GraphSpec
from oversight.verdicts import OversightRoles

if TYPE_CHECKING:
    from oversight.roles import RolesFile
    from oversight.settings import Settings
    from oversight.store import Store


@dataclass(frozen=True)
class GraphContext:
    """What a graph run needs besides the prompt."""

    roles: OversightRoles
    constitution: Constitution
    spec: GraphSpec
    store: Store | None = None
    run_id: str = "adhoc"
    versions: dict[str, Any] = field(default_factory=dict)
    """Model and adapter versions in use, stored with every trajectory."""

    def principles(self, ids: list[str] | None = None) -> list[Principle]:
        """Principles by id (constitution order), or all of them."""
        if ids is None:
            return list(self.constitution.principles)
        wanted = set(ids)
        return [p for p in self.constitution.principles if p.id in wanted]

    def critic_principles(self) -> list[Principle]:
        chosen = self.spec.critic.principles
        return self.principles(None if chosen == "all" else list(chosen))


def build_roles(settings: Settings, store: Store, roles_file: RolesFile, constitution: Constitution,
                *, progress: bool = True, log: Callable[[str], None] | None = None,
                ) -> tuple[OversightRoles, dict[str, Any], Any]:
    """The real roles: train missing adapters/heads once, then load them on one runtime.

    Returns (roles, versions, runtime); the caller closes the runtime.
    """
    from oversight.runtime import Runtime
    from oversight.runtime.roleset import RoleSet
    from oversight.train.bootstrap import ensure_trained

    runtime = Runtime(settings.models_dir)  # one runtime: bootstrap features and the graph share the model
    versions = ensure_trained(settings, store, roles_file, constitution, progress=progress,
                              log=log or (lambda _msg: None), runtime=runtime)
    return RoleSet(runtime, roles_file, constitution, versions), versions_json(versions), runtime


def versions_json(versions: dict[str, Any]) -> dict[str, Any]:
    """Role versions as plain JSON, as stored with runs and trajectories."""
    return {role: v.model_dump(mode="json") if hasattr(v, "model_dump") else v for role, v in versions.items()}
