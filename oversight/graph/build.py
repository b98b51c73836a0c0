"""Compiling a spec into a LangGraph StateGraph: the top of graph/, imported by nothing below it.

Nodes come from `nodes.NODES`, edges from `edges.graph_edges` (the declaration
the naive loop walks too). `default_context` serves callers that cannot pass a
context (langgraph dev, which also gets `typed_context=False`: a server cannot
build a schema of live objects).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from oversight.graph.context import GraphContext
from oversight.graph.edges import ENTRY, FINISH, graph_edges, node_names
from oversight.graph.nodes import NODES
from oversight.graph.spec import GraphSpec
from oversight.graph.state import InputState, State

assert FINISH == END, "edges.FINISH must name LangGraph's END"


def compile_spec(spec: GraphSpec, *, checkpointer: Any = None,
                 default_context: Callable[[], GraphContext] | None = None, typed_context: bool = True) -> Any:
    """A LangGraph StateGraph of the nodes the spec names, compiled."""

    def bind(fn: Callable[[Any, GraphContext], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
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
    for name in node_names(spec):
        builder.add_node(name, bind(NODES[name]))
    builder.add_edge(START, ENTRY)
    for source, edge in graph_edges(spec).items():
        if edge.router is None:
            builder.add_edge(source, edge.targets[0])
        else:
            builder.add_conditional_edges(source, edge.router, list(edge.targets))
    return builder.compile(checkpointer=checkpointer, name=f"oversight:{spec.name}")
