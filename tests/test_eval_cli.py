"""The eval command's fast paths: one-line errors, `eval compare`, escalation quality (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oversight.cli.main import main
from oversight.eval.compare import compare_rows
from oversight.eval.escalation import escalation_quality, human_checks
from oversight.eval.result import EvalResult, ItemOutcome
from oversight.eval.stats import Rate
from oversight.settings import Settings


def _save(settings: Settings, run_id: str, harmful: int, benign: int, suite_hash: str = "same") -> Path:
    items = [ItemOutcome(id=f"harm-{i}", suite="harmful", category="cyber", expected="refuse",
                         label="comply" if i < harmful else "refuse") for i in range(40)]
    result = EvalResult(run_id=run_id, target="base", suite_hash=suite_hash, items=items, rates={
        "harmful_compliance": Rate(harmful, 40).to_dict(), "benign_refusal": Rate(benign, 40).to_dict()})
    return result.save(settings.home / "evals" / run_id)


@pytest.mark.parametrize("argv, message", [
    (["eval", "--suite", "nope"], "error: unknown suite 'nope'"),
    (["eval", "--target", "gpt4"], "error: unknown target 'gpt4'"),
    (["eval", "--target", "base@99", "--no-judge"], "error: no model version 99"),
    (["eval", "--split", "dev", "--limit", "0"], "error: --limit must be at least 1"),
    (["eval", "compare", "only-one"], "error: eval compare needs exactly two run ids"),
    (["eval", "compare", "missing-a", "missing-b"], "error: no eval run 'missing-a'"),
    (["eval", "escalation"], "error: no human decisions"),
])
def test_bad_input_gives_one_line_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_compare_marks_noise_and_refuses_other_suites(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _save(settings, "run-a", harmful=20, benign=2)
    _save(settings, "run-b", harmful=4, benign=3)
    assert main(["eval", "compare", "run-a", "run-b"]) == 0
    out = capsys.readouterr().out
    line = {row.split()[0]: row for row in out.splitlines() if row.startswith(("harmful", "benign"))}
    assert "differs" in line["harmful_compliance"] and "-40.0%" in line["harmful_compliance"]
    assert line["benign_refusal"].rstrip().endswith("noise")
    rows = {name: verdict for name, _, _, verdict in compare_rows(EvalResult.load(settings.home / "evals" / "run-a"),
                                                                  EvalResult.load(settings.home / "evals" / "run-b"))}
    assert rows["benign_refusal"] == "noise"
    _save(settings, "run-c", harmful=4, benign=3, suite_hash="other")
    assert main(["eval", "compare", "run-a", "run-c"]) == 2
    assert "different suites" in capsys.readouterr().err


def _review(item_id: int, prob: float, proposal: int, action: str, candidate: int | None = None) -> dict:
    decision = {"action": action} if candidate is None else {"action": action, "candidate": candidate}
    return {"id": item_id, "payload": {"proposal": proposal, "judgments": [
        {"a_index": 0, "b_index": 1, "principle_id": None, "prob_b_better": prob},
        {"a_index": 0, "b_index": 1, "principle_id": "helpfulness", "prob_b_better": 0.1}]}, "decision": decision}


def test_escalation_quality_from_human_decisions(tmp_path: Path) -> None:
    reviews = [_review(1, 0.95, 1, "accept"), _review(2, 0.9, 1, "accept"), _review(3, 0.55, 1, "choose", 0),
               _review(4, 0.45, 0, "choose", 1), _review(5, 0.2, 0, "accept"), _review(6, 0.52, 1, "refuse"),
               {"id": 7, "payload": {}, "decision": None}]
    checks = human_checks(reviews)
    assert [c.item_id for c in checks] == [1, 2, 3, 4, 5, 6]
    assert [c.agreed for c in checks] == [True, True, False, False, True, False]
    assert checks[5].human_chose_revision is None and checks[2].human_chose_revision is False
    report = escalation_quality(checks, tmp_path, budget=0.0)
    assert report is not None and report["judge_errors"] == 3 and report["calibrated_cases"] == 5
    # uncertain cases (p near 0.5) are exactly the overruled ones: zero agreed escalations catch them all
    assert report["threshold"]["caught_rate"] == 1.0 and report["threshold"]["escalation_rate"] == 0.0
    assert 0.0 <= report["ece"] <= 1.0
    assert Path(report["reliability_png"]).stat().st_size > 1000 and Path(report["tradeoff_png"]).is_file()
    assert escalation_quality([], tmp_path) is None


def test_graph_target_counts_held_items_apart_with_scripted_roles(settings: Settings) -> None:
    """Routing only (scripted roles): refused, escalated and answered items land in the right rates."""
    from fakes import FakeRoles

    from oversight.eval.runner import evaluate
    from oversight.eval.suites import load_suites, select
    from oversight.settings import PROJECT_DIR
    from oversight.store import Store

    items = select(load_suites("all", PROJECT_DIR), "test", 2)
    harmful = [i for i in items if i.suite == "harmful"]
    benign = [i for i in items if i.suite == "benign_sensitive"]
    answers = {i.prompt: f"Sure, here is a detailed answer about {i.prompt}" for i in items}
    roles = FakeRoles(
        answers=answers, violations={answers[harmful[1].prompt]: {"harmful-instructions": 0.9}},
        safety={harmful[0].prompt: {"harmful_prob": 0.99}},           # blocked: a refusal
        default_preference=0.52)                                      # judge unsure: revisions escalate
    store = Store.open(settings)
    result = evaluate(settings, store, "graph:default", "all", roles=roles, runtime=object(), limit=2,
                      progress=False, plots=False)
    by_id = {o.id: o for o in result.items}
    assert by_id[harmful[0].id].route == "refused" and by_id[harmful[0].id].label == "refuse"
    held = [o for o in result.items if o.held]
    assert held, [(o.id, o.route) for o in result.items]
    assert all(o.label == "held" and o.route == "escalated" for o in held)
    assert result.rate("escalation").k == len(held) and result.rate("escalation").n == 8
    harm = result.rate("harmful_compliance")
    assert harm.n == 2 and harm.k == sum(by_id[i.id].label in ("comply", "partial") for i in harmful)
    assert result.rate("benign_refusal").n == len(benign)
    assert (Path(result.run_dir or "") / "report.md").is_file()
