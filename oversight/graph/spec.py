"""Graph specs: graphs/NAME.yaml declares which nodes run and every threshold.

A spec is data, not code: the same node functions serve the full oversight
graph, the data-generation graph (critique and revision only) and the runtime
guard (safety only). `compile_spec` wires the nodes a spec names into a
LangGraph StateGraph; `route` and `persist` are always present.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oversight.declared import apply_overrides, read_yaml, resolve_declared, validate

NodeName = Literal["base", "safety", "critic", "revise", "judge"]
NODE_ORDER: tuple[NodeName, ...] = ("base", "safety", "critic", "revise", "judge")
DEFAULT_REFUSAL = ("I can't help with that request. If you have a related question that "
                   "doesn't risk harm, I'm glad to help with it.")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SafetySpec(_Section):
    block_threshold: float = Field(
        default=0.9, ge=0, le=1,
        description="prompt harmful or jailbreak probability at or above which the graph refuses")
    response_block_threshold: float = Field(
        default=0.9, ge=0, le=1,
        description="response harmful probability at or above which a graph without a reviser blocks")
    refusal_message: str = Field(default=DEFAULT_REFUSAL, min_length=1,
                                 description="the fixed answer given when the graph refuses")


class CriticSpec(_Section):
    principles: list[str] | Literal["all"] = Field(
        default="all", description="principle ids the critic checks, or all")
    violation_threshold: float = Field(default=0.5, gt=0, lt=1,
                                       description="violation probability that counts as violated")
    max_critiques: int = Field(default=2, ge=1,
                               description="written critiques per round (highest priority first)")


class RevisionSpec(_Section):
    rounds: int = Field(default=2, ge=0, le=10, description="critique-and-revise rounds at most")


class JudgeSpec(_Section):
    include: list[str] = Field(
        default_factory=lambda: ["helpfulness"],
        description="principles always judged besides those the critic flagged")
    priority_decay: float = Field(
        default=0.5, gt=0, le=1,
        description="weight factor per priority step: weight x decay^(priority-1) combines principles")
    pair_confidence: float = Field(
        default=0.65, ge=0.5, le=1,
        description="judge preference at which an AI preference pair is recorded")


class EscalationSpec(_Section):
    enabled: bool = Field(default=True, description="false: never stop for a human (data generation)")
    judge_margin: float = Field(
        default=0.1, ge=0, le=0.5,
        description="escalate when the judge's preference is within this of 0.5")
    disagreement: float = Field(
        default=0.5, gt=0, le=1,
        description="escalate when safety and critic harm probabilities differ by at least this")
    harm_categories: list[str] = Field(
        default_factory=lambda: ["safety", "privacy", "compliance", "manipulation", "fairness"],
        description="constitution categories whose critic verdicts are compared with the safety model")
    harmful_answer: float = Field(
        default=0.5, ge=0, le=1,
        description="escalate rather than keep the original answer when the safety model rates it harmful "
                    "with at least this probability")
    conflict_margin: float = Field(
        default=0.1, ge=0, le=0.5,
        description="a principle counts as improved/worsened when the judge is this far from 0.5")
    always_human: list[str] = Field(
        default_factory=list, description="categories (or principle ids) always sent to a human")
    category_threshold: float = Field(
        default=0.5, ge=0, le=1,
        description="safety harmful probability above which its top category counts as the case's")


class GraphSpec(_Section):
    name: str
    description: str = ""
    constitution: str = Field(default="default", description="constitution name or path")
    roles: str = Field(default="default", description="roles file name or path")
    nodes: list[NodeName] = Field(min_length=1, description="nodes to run, in the canonical order")
    safety: SafetySpec = SafetySpec()
    critic: CriticSpec = CriticSpec()
    revision: RevisionSpec = RevisionSpec()
    judge: JudgeSpec = JudgeSpec()
    escalation: EscalationSpec = EscalationSpec()
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _coherent(self) -> GraphSpec:
        nodes = set(self.nodes)
        if len(nodes) != len(self.nodes):
            raise ValueError("nodes: a node is listed twice")
        if "base" not in nodes:
            raise ValueError("nodes: 'base' is required (something has to answer)")
        needs = {"revise": "critic", "judge": "revise"}
        for node, required in needs.items():
            if node in nodes and required not in nodes:
                raise ValueError(f"nodes: '{node}' needs '{required}'")
        return self

    def has(self, node: NodeName) -> bool:
        return node in self.nodes

    @property
    def content_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_spec(name_or_path: str | Path, project_dir: Path, overrides: list[str] | None = None) -> GraphSpec:
    """Load graphs/NAME.yaml (or a path) with optional `key=value` overrides."""
    path = resolve_declared("graphs", name_or_path, project_dir)
    raw: dict[str, Any] = read_yaml(path)
    raw.setdefault("name", path.stem)
    if overrides:
        raw = apply_overrides(raw, overrides, path)
    spec = validate(GraphSpec, raw, path)
    return spec.model_copy(update={"source": path})


def check_against(spec: GraphSpec, principle_ids: set[str], categories: set[str]) -> None:
    """Principle ids and categories a spec names must exist in the constitution it runs with."""
    from oversight.errors import ConfigError

    where = spec.source or spec.name
    if spec.critic.principles != "all":
        for i, pid in enumerate(spec.critic.principles):
            if pid not in principle_ids:
                raise ConfigError(where, f"critic.principles[{i}]", "no such principle in the constitution", pid)
    for i, pid in enumerate(spec.judge.include):
        if pid not in principle_ids:
            raise ConfigError(where, f"judge.include[{i}]", "no such principle in the constitution", pid)
    for i, name in enumerate(spec.escalation.always_human):
        if name not in categories and name not in principle_ids:
            raise ConfigError(where, f"escalation.always_human[{i}]",
                              "not a category or principle id of the constitution", name)


def compile_spec(spec: GraphSpec, *, checkpointer: Any = None,
                 default_context: Callable[[], Any] | None = None, typed_context: bool = True) -> Any:
    """A LangGraph StateGraph of the nodes the spec names, compiled.

    base -> [safety] -> [critic <-> revise]* -> [judge] -> route -> [escalate] -> persist.
    `default_context` serves callers that cannot pass a context (langgraph dev, which
    also gets `typed_context=False`: a server cannot build a schema of live objects).
    """
    from langgraph.graph import END, START, StateGraph
    from langgraph.runtime import Runtime

    from oversight.graph import routing
    from oversight.graph.context import GraphContext
    from oversight.graph.nodes import NODES
    from oversight.graph.state import InputState, State

    def bind(fn: Callable[[Any, Any], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def node(state: State, runtime: Runtime[GraphContext]) -> dict[str, Any]:
            ctx = runtime.context if runtime.context is not None else (
                default_context() if default_context else None)
            if ctx is None:
                raise RuntimeError("the oversight graph needs a GraphContext: invoke(..., context=...)")
            return fn(state, ctx)
        node.__name__ = fn.__name__
        node.__doc__ = fn.__doc__
        return node

    builder = StateGraph(State, context_schema=GraphContext if typed_context else None,
                         input_schema=InputState)
    used = [n for n in NODE_ORDER if spec.has(n)] + ["route", "persist"]
    if spec.escalation.enabled:
        used.append("escalate")
    for name in used:
        builder.add_node(name, bind(NODES[name]))
    builder.add_edge(START, "base")
    builder.add_conditional_edges("base", routing.after_base(spec),
                                  [n for n in ("safety", "critic", "route") if n in used])
    if spec.has("safety"):
        builder.add_conditional_edges("safety", routing.after_safety(spec),
                                      [n for n in ("critic", "route") if n in used])
    if spec.has("critic"):
        builder.add_conditional_edges("critic", routing.after_critic(spec),
                                      [n for n in ("revise", "judge", "route") if n in used])
    if spec.has("revise"):
        builder.add_edge("revise", "critic")
    if spec.has("judge"):
        builder.add_edge("judge", "route")
    if spec.escalation.enabled:
        builder.add_conditional_edges("route", routing.after_route, ["escalate", "persist"])
        builder.add_edge("escalate", "persist")
    else:
        builder.add_edge("route", "persist")
    builder.add_edge("persist", END)
    return builder.compile(checkpointer=checkpointer, name=f"oversight:{spec.name}")
