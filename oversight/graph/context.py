"""Per-run settings handed to every node as LangGraph's run context.

The context holds live objects (the roles with their loaded model, the store),
so it travels with `invoke(..., context=...)` and never into a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oversight.constitution import Constitution, Principle
from oversight.errors import OversightError
from oversight.graph.spec import GraphSpec
from oversight.store.tables import RUN_KINDS, UNREVIEWED_RUN_KINDS
from oversight.verdicts import OversightRoles

if TYPE_CHECKING:
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
    run_kind: str = "production"
    """production / datagen escalate to the review queue; eval / calibration only record it."""
    decision_spec: GraphSpec | None = None
    """`spec` with calibrated thresholds (graph/sidecar.py), read by the route decision only; runs,
    threads and records name `spec`, so a calibration never strands a paused thread. None: `spec`."""

    def __post_init__(self) -> None:
        if self.run_kind not in RUN_KINDS:
            raise OversightError(f"run kind must be one of {', '.join(RUN_KINDS)}, got {self.run_kind!r}")

    @property
    def deciding_spec(self) -> GraphSpec:
        """The spec the route decision reads: calibrated thresholds when a sidecar applies."""
        return self.decision_spec or self.spec

    @property
    def reviewed(self) -> bool:
        """Whether an escalation waits for a human (False for measurement runs)."""
        return self.run_kind not in UNREVIEWED_RUN_KINDS

    def principles(self, ids: list[str] | None = None) -> list[Principle]:
        """Principles by id (constitution order), or all of them."""
        if ids is None:
            return list(self.constitution.principles)
        wanted = set(ids)
        return [p for p in self.constitution.principles if p.id in wanted]

    def critic_principles(self) -> list[Principle]:
        chosen = self.spec.critic.principles
        return self.principles(None if chosen == "all" else list(chosen))
