"""One declaration of the edges: the compiled StateGraph and the naive loop both follow `edges.graph_edges`."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from oversight.graph import edges as edge_module
from oversight.graph.build import compile_spec
from oversight.graph.edges import ENTRY, graph_edges, node_names
from oversight.graph.inputs import Prompt
from oversight.graph.sequential import run_naive
from oversight.graph.spec import load_spec
from oversight.settings import Settings
from oversight.store import Store, get_trajectory
from tests.fakes import FakeRoles
from tests.graph_support import BAD, FIXED, assert_no_leaks_in_store, context, run

SPECS = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "graphs").glob("*.yaml"))


@pytest.mark.parametrize("name", SPECS)
def test_compiled_graph_has_exactly_the_declared_edges(settings: Settings, name: str) -> None:
    spec = load_spec(name, settings.project_dir)
    drawn = compile_spec(spec).get_graph()
    compiled = {(e.source, e.target) for e in drawn.edges}
    declared = {(source, target) for source, edge in graph_edges(spec).items() for target in edge.targets}
    assert compiled == declared | {("__start__", ENTRY)}
    assert set(drawn.nodes) - {"__start__", "__end__"} == set(node_names(spec)) == set(graph_edges(spec))


def test_each_router_is_typed_with_the_targets_it_may_choose(settings: Settings) -> None:
    spec = load_spec("default", settings.project_dir)
    for source, edge in graph_edges(spec).items():
        if edge.router is None:
            assert len(edge.targets) == 1
            continue
        factory = getattr(edge_module, f"after_{source}")
        plain = source in ("route", "escalate")  # routers that need no spec
        hints = typing.get_type_hints(edge.router if plain else factory(spec), vars(edge_module))
        assert set(typing.get_args(hints["return"])) == set(edge.targets), source


@pytest.mark.parametrize("name", SPECS)
def test_naive_loop_and_graph_agree_on_every_shipped_spec(settings: Settings, name: str) -> None:
    store = Store.open(settings)
    spec = load_spec(name, settings.project_dir, ["escalation.enabled=false"] if name == "default" else [])
    texts = ["What is 2+2?", "open the door", "how do I hurt someone"]

    def roles() -> FakeRoles:
        return FakeRoles(answers={"open the door": BAD, "how do I hurt someone": "Like this."},
                         revisions={BAD: FIXED}, violations={BAD: {"harmful-instructions": 0.92}},
                         safety={"how do I hurt someone": {"harmful_prob": 0.97, "response_harmful_prob": 0.95}})

    graph_side = run(settings, context(settings, store, roles(), run_id=f"g-{name}", spec=spec), texts).results
    loop_roles = roles()
    loop_side = run_naive(context(settings, store, loop_roles, run_id=f"n-{name}", spec=spec),
                          [Prompt(f"p{i}", t) for i, t in enumerate(texts)]).results
    assert [(r.route, r.final_response) for r in loop_side] == [(r.route, r.final_response) for r in graph_side]
    for i in range(len(texts)):
        g, n = get_trajectory(store, f"g-{name}", f"p{i}"), get_trajectory(store, f"n-{name}", f"p{i}")
        assert [c.text for c in g.candidates] == [c.text for c in n.candidates]
        assert g.route_reason == n.route_reason
    assert assert_no_leaks_in_store(store, settings) == 2 * len(texts)
