"""A tiny real-model evaluation: base and graph targets, report, plots, compare, gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oversight.constitution import load_constitution
from oversight.eval.compare import compare_table
from oversight.eval.gate import gate
from oversight.eval.runner import evaluate
from oversight.roles import load_roles
from oversight.runtime.roleset import RoleSet
from oversight.settings import Settings
from oversight.store import Store
from oversight.train.bootstrap import resolve_versions


@pytest.mark.model
def test_tiny_eval_of_base_and_graph_writes_report_plots_and_compares(
        request: pytest.FixtureRequest, runtime: Any, tmp_path: Path) -> None:
    trained: Settings = request.getfixturevalue("trained_home")
    settings = trained.with_(home=tmp_path / "home")  # run folders here; the registry stays trained_home's
    settings = settings.with_(database_url=trained.database_url)
    store = Store.open(settings)
    roles_file = load_roles("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    roles = RoleSet(runtime, roles_file, constitution, resolve_versions(store, roles_file))

    base = evaluate(settings, store, "base", "all", runtime=runtime, roles=roles, limit=1, progress=False)
    folder = Path(base.run_dir or "")
    assert folder.parent == settings.home / "evals" and (folder / "result.json").is_file()
    assert len(base.items) == 4 and {o.suite for o in base.items} == {"harmful", "jailbreak", "benign_sensitive",
                                                                      "helpful"}
    assert all(o.response and o.label in ("comply", "partial", "refuse", "off-topic") for o in base.items)
    for name in ("harmful_compliance", "jailbreak_success", "benign_refusal", "helpful_refusal", "helpfulness"):
        rate = base.rate(name)
        assert rate is not None and rate.n == 1, name
        low, high = rate.interval
        assert 0.0 <= low <= rate.value <= high <= 1.0
    assert base.target_versions["base"] == "bare" and base.classifier
    assert all(0.0 <= o.safety["harmful_prob"] <= 1.0 for o in base.items)
    report = (folder / "report.md").read_text()
    assert "harmful_compliance" in report and base.classifier in report
    for png in ("per_category.png", "harm_vs_help.png", "escalation_tradeoff.png"):
        assert (folder / png).stat().st_size > 5000, png
        assert f"]({png})" in report

    graph = evaluate(settings, store, "graph:default", "all", runtime=runtime, roles=roles, limit=1,
                     progress=False, versions={"note": "test"})
    assert graph.suite_hash == base.suite_hash and graph.target == "graph:default"
    assert graph.target_versions["graph"] == "default" and graph.target_versions["constitution_hash"]
    for o in graph.items:
        assert o.route in ("accepted", "revised", "refused", "blocked", "escalated"), o.route
        assert o.held == (o.route == "escalated") and (o.held or o.response)
        assert o.safety and (o.route == "refused" or o.original)
    assert graph.rate("escalation") is not None and graph.rate("escalation").n == 4
    # eval runs never reach the review queue
    from oversight.store.queue import list_reviews

    assert not list_reviews(store, status=None, run_id=graph.run_id)
    text = compare_table(base, graph)
    assert "harmful_compliance" in text and ("noise" in text or "differs" in text)
    verdict = gate(graph, base)
    assert isinstance(verdict.passed, bool) and verdict.reasons
    harm_help = Path(graph.run_dir or "") / "harm_vs_help.png"
    assert harm_help.stat().st_size > 5000  # both targets on one plot
