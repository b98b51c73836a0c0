"""The one declaration of how a spec's nodes connect, each router beside its edge.

base -> [safety] -> [critic <-> revise]* -> [judge] -> route -> [escalate] -> persist;
a rejected revision (leak check) goes to revise again while rounds remain.
`build.compile_spec` turns these edges into a LangGraph StateGraph and
`sequential.run_sequential` (the benchmark's naive loop) walks the same edges by
hand, so the two can never disagree about where a thread goes next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from oversight.graph.delivery import band_refuses, band_revises, last_rejected, reasks
from oversight.graph.rules import prompt_blocked
from oversight.graph.spec import NODE_ORDER, GraphSpec
from oversight.graph.state import State, violated

ENTRY = "base"
FINISH = "__end__"  # LangGraph's END
StepName = Literal["base", "safety", "critic", "revise", "judge", "route", "escalate", "persist", "__end__"]


@dataclass(frozen=True)
class Edge:
    """Where a node leads: one fixed target, or a router choosing among `targets`."""

    targets: tuple[StepName, ...]
    router: Callable[[State], StepName] | None = None

    def next(self, state: State) -> StepName:
        return self.router(state) if self.router is not None else self.targets[0]


def node_names(spec: GraphSpec) -> list[str]:
    """The nodes a spec's graph has: those it names, then route, persist and (if enabled) escalate."""
    names: list[str] = [n for n in NODE_ORDER if spec.has(n)] + ["route", "persist"]
    if spec.escalation.enabled:
        names.append("escalate")
    return names


AfterBase = Literal["safety", "critic", "route"]


def after_base(spec: GraphSpec) -> Callable[[State], AfterBase]:
    def route(state: State) -> AfterBase:
        if spec.has("safety"):
            return "safety"
        return "critic" if spec.has("critic") else "route"
    return route


AfterSafety = Literal["critic", "route"]


def after_safety(spec: GraphSpec) -> Callable[[State], AfterSafety]:
    """A refused request (blocked, or in a middle band the spec refuses) goes straight to the decision;
    nothing more is asked of the models."""
    def route(state: State) -> AfterSafety:
        if prompt_blocked(state.get("safety"), spec) or band_refuses(state, spec) or not spec.has("critic"):
            return "route"
        return "critic"
    return route


AfterCritic = Literal["revise", "judge", "route"]


def after_critic(spec: GraphSpec) -> Callable[[State], AfterCritic]:
    """Revise while a principle is violated (or a middle-band request has no revision yet, or the original
    only declines a benign request) and rounds remain; then judge any revisions."""
    def route(state: State) -> AfterCritic:
        candidates = state.get("candidates", [])
        latest = candidates[-1] if candidates else {}
        wanted = violated(latest) or (len(candidates) == 1 and band_revises(state, spec)) or reasks(state, spec)
        if spec.has("revise") and wanted and state.get("round", 0) < spec.revision.rounds:
            return "revise"
        return _judge_or_route(spec, state)
    return route


AfterRevise = Literal["critic", "revise", "judge", "route"]


def after_revise(spec: GraphSpec) -> Callable[[State], AfterRevise]:
    """A new candidate goes to the critic; a rejected rewrite is tried again while rounds remain
    (not a reviewer's send-back: that goes back to the decision, and so to the reviewer)."""
    def route(state: State) -> AfterRevise:
        rejected = last_rejected(state)
        if rejected is None:
            return "critic"
        if rejected["by"] == "critic" and state.get("round", 0) < spec.revision.rounds:
            return "revise"
        return _judge_or_route(spec, state)
    return route


def _judge_or_route(spec: GraphSpec, state: State) -> Literal["judge", "route"]:
    return "judge" if spec.has("judge") and len(state.get("candidates", [])) > 1 else "route"


AfterRoute = Literal["escalate", "persist"]


def after_route(state: State) -> AfterRoute:
    return "escalate" if state.get("decision", {}).get("route") == "escalated" else "persist"


AfterEscalate = Literal["revise", "persist"]


def after_escalate(state: State) -> AfterEscalate:
    """A reviewer who sent the answer back (decision `revise`) starts another round."""
    return "revise" if (state.get("human") or {}).get("action") == "revise" else "persist"


def graph_edges(spec: GraphSpec) -> dict[str, Edge]:
    """Every node of the spec's graph and where it leads."""
    used = set(node_names(spec))

    def present(*names: StepName) -> tuple[StepName, ...]:
        return tuple(n for n in names if n in used)

    edges = {"base": Edge(present("safety", "critic", "route"), after_base(spec))}
    if spec.has("safety"):
        edges["safety"] = Edge(present("critic", "route"), after_safety(spec))
    if spec.has("critic"):
        edges["critic"] = Edge(present("revise", "judge", "route"), after_critic(spec))
    if spec.has("revise"):
        edges["revise"] = Edge(present("critic", "revise", "judge", "route"), after_revise(spec))
    if spec.has("judge"):
        edges["judge"] = Edge(("route",))
    if spec.escalation.enabled:
        edges["route"] = Edge(("escalate", "persist"), after_route)
        edges["escalate"] = Edge(("revise", "persist"), after_escalate) if spec.has("revise") \
            else Edge(("persist",))
    else:
        edges["route"] = Edge(("persist",))
    edges["persist"] = Edge((FINISH,))
    return edges
