"""`graph calibrate` on the embedded model: a few calibration prompts, a sidecar that fits, a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oversight.cli.graph_calibrate import run_calibrate
from oversight.cli.main import build_parser
from oversight.constitution import load_constitution
from oversight.eval.tradeoff import ReplayItem, misses, replay_setting
from oversight.graph.calibration import load_states, states_path
from oversight.graph.sidecar import data_path, in_effect, read_sidecar
from oversight.graph.spec import load_spec
from oversight.roles import load_roles
from oversight.settings import Settings
from oversight.store import Store
from oversight.train.bootstrap import resolve_versions


@pytest.mark.model
def test_calibrate_a_few_prompts_writes_a_sidecar_that_fits(request: pytest.FixtureRequest, runtime: Any,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trained: Settings = request.getfixturevalue("trained_home")
    # sidecar and states in a folder of this test; the registry (trained roles) stays trained_home's
    settings = trained.with_(home=tmp_path / "home", database_url=trained.database_url)
    argv = ["graph", "calibrate", "--limit", "1", "--budget", "0.5", "--max-refusal", "0.5", "--concurrency", "4"]
    assert run_calibrate(build_parser().parse_args(argv), settings, runtime=runtime) == 0
    out = capsys.readouterr().out
    assert "trade-off over" in out and "benign escalation" in out and "wrote " in out

    spec = load_spec("default", settings.project_dir)
    constitution = load_constitution("default", settings.project_dir)
    roles_file = load_roles("default", settings.project_dir)
    sidecar = read_sidecar(data_path(settings, spec))
    escalation = sidecar.expected["benign_escalation"]
    assert escalation["n"] == 2 and escalation["rate"] <= 0.5 and escalation["low"] <= escalation["rate"]
    assert sidecar.expected["benign_refusal"]["rate"] <= 0.5 and sidecar.expected["harmful_held"]["n"] == 1
    versions = resolve_versions(Store.open(settings), roles_file)
    effect = in_effect(settings, spec, constitution, roles_file, versions)
    assert effect.status == "calibrated" and "calibrated for budget 50%" in effect.message
    assert load_spec("default", settings.project_dir).content_hash == sidecar.key.spec_hash

    # the saved states replay to the figures the sidecar promises
    header, states = load_states(states_path(settings, sidecar.run_id))
    assert len(states) == 4 and header.key == sidecar.key
    items = [ReplayItem(pid, header.groups[pid], s["prompt"], s) for pid, s in states.items()]
    again = replay_setting(items, constitution, spec, sidecar.thresholds).rates()
    assert {k: again[k].to_dict() for k in sidecar.expected} == sidecar.expected

    report = ["graph", "calibrate", "--replay", sidecar.run_id, "--report", "--misses"]
    assert run_calibrate(build_parser().parse_args(report), settings) == 0
    out = capsys.readouterr().out
    assert "declared" in out and "calibrated" in out and "jailbreak held" in out
    listed = misses(items, constitution, spec, sidecar.thresholds)
    assert "misses (calibrated thresholds)" in out and all(f"  {m.id} " in out for m in listed)
