"""Operational input checks: ids that fit the store, and names that never pick up a stray local file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import DataError

from oversight.cli.main import main
from oversight.constitution import load_constitution
from oversight.errors import ConfigError
from oversight.graph.inputs import PROMPT_ID_LIMIT, RUN_ID_LIMIT, read_prompts
from oversight.graph.threads import thread_id
from oversight.roles import load_roles
from oversight.settings import PROJECT_DIR
from oversight.store import Store, TrajectoryRecord, enqueue_review, ensure_run, save_trajectory


def _never_load_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused input must stop before any model is loaded or trained."""
    from oversight.train import bootstrap

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the command went on to load models")

    monkeypatch.setattr(bootstrap, "build_roles", refuse)


def test_prompt_ids_longer_than_the_store_holds_are_skipped_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [{"id": "ok", "prompt": "hi"}, {"id": "x" * (PROMPT_ID_LIMIT + 1), "prompt": "too long an id"},
            {"id": "y" * PROMPT_ID_LIMIT, "prompt": "just fits"}, {"id": "", "prompt": "empty id"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    found = read_prompts(path)
    assert [p.id for p in found.prompts] == ["ok", "y" * PROMPT_ID_LIMIT]
    assert len(found.problems) == 2
    assert found.problems[0].startswith("p.jsonl line 2: id has 136 characters")
    assert found.problems[1].startswith("p.jsonl line 4: id has 0 characters")


def test_graph_refuses_long_ids_before_loading_any_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _never_load_models(monkeypatch)
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "z" * 300, "prompt": "hello"}) + "\n", encoding="utf-8")
    assert main(["graph", "--input", str(path)]) == 2
    err = capsys.readouterr().err
    assert "p.jsonl line 1: id has 300 characters" in err and "Traceback" not in err
    assert main(["graph", "--prompt", "hi", "--run-id", "r" * (RUN_ID_LIMIT + 1)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --run-id has {RUN_ID_LIMIT + 1} characters; the store keeps at most {RUN_ID_LIMIT}"


def test_the_longest_accepted_ids_fit_every_column(make_store: Callable[[], Store]) -> None:
    """The limits are the store's own: the longest ids write on PostgreSQL, one more character does not."""
    store = make_store()
    store.migrate()
    run_id, prompt_id = "r" * RUN_ID_LIMIT, "p" * PROMPT_ID_LIMIT
    ensure_run(store, run_id, graph_name="g", graph_hash="h", constitution_name="c", constitution_hash="ch")
    record = TrajectoryRecord(run_id=run_id, prompt_id=prompt_id, prompt="q", route="escalated",
                              status="pending_review")
    trajectory = save_trajectory(store, record)
    enqueue_review(store, thread_id(run_id, prompt_id), run_id, prompt_id, "why", ["why"], {},
                   trajectory_id=trajectory)
    if store.is_sqlite:
        return  # SQLite does not enforce VARCHAR lengths; PostgreSQL does, which is why the limits exist
    with pytest.raises(DataError):
        enqueue_review(store, thread_id(run_id, prompt_id + "p"), run_id, prompt_id + "p", "why", ["why"], {})


def test_a_local_file_or_folder_never_shadows_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()                      # a folder named like the shipped constitution
    (tmp_path / "strict").write_text("name: junk\n")    # a file named like another shipped one
    (tmp_path / "default.yaml").write_text("not: a roles file\n")
    assert load_constitution("default", PROJECT_DIR).source == (PROJECT_DIR / "constitutions" / "default.yaml")
    assert load_constitution("strict", PROJECT_DIR).name == "strict"
    assert load_roles("default", PROJECT_DIR).source == PROJECT_DIR / "roles" / "default.yaml"
    with pytest.raises(ConfigError, match="is a folder, not a constitution file"):
        load_constitution("./default", PROJECT_DIR)
    with pytest.raises(ConfigError, match=r"default\.yaml: unknown key|models: missing"):
        load_roles("default.yaml", PROJECT_DIR)          # a name ending in .yaml is a path: the local file
    with pytest.raises(ConfigError, match=r"no constitution named 'nothere'; shipped: default, strict"):
        load_constitution("nothere", PROJECT_DIR)


def test_a_bare_name_that_exists_only_locally_gets_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").write_text("version: 1\nprinciples: []\n")
    assert main(["constitution", "mine"]) == 2
    err = capsys.readouterr().err
    assert "no constitution named 'mine'" in err and "write ./mine" in err
