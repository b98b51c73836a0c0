"""The registry's statuses: candidates, one active version per role, rollback, retire, cleanup, bad input."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from oversight.errors import OversightError
from oversight.settings import Settings
from oversight.store import Store, active_version, list_versions, promote, register_version, retire, rollback
from oversight.store.registry import activate, set_gate
from oversight.store.tables import ModelVersion
from oversight.train.cleanup import cleanup_retired


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    store = make_store()
    store.migrate()
    return store


def snapshot(store: Store) -> list[tuple[int, str, int | None]]:
    return [(v.id, v.status, v.previous_id) for v in list_versions(store)]


def candidate(store: Store, path: str = "/a", base: str = "m", **extra: object) -> int:
    return register_version(store, "base", "adapter", path, base, activate=False, **extra)  # type: ignore[arg-type]


def test_promote_rollback_retire(store: Store) -> None:
    first = candidate(store, algorithm="sft", recipe={"steps": 2}, started_from="bare",
                      dataset={"export_id": "e1", "by_source": {"sft": {"ai": 3, "human": 1}}})
    assert active_version(store, "base") is None
    assert promote(store, first, base_model="m").status == "active"
    second = candidate(store, parent_id=first, started_from="active")
    promoted = promote(store, second, gate={"passed": True, "reasons": ["ok"]})
    assert promoted.previous_id == first and promoted.gate_json == {"passed": True, "reasons": ["ok"]}
    assert [v.status for v in list_versions(store)] == ["retired", "active"]
    back = rollback(store, "base")
    assert back.id == first and [v.status for v in list_versions(store)] == ["active", "retired"]
    shown = list_versions(store)[0]
    assert shown.algorithm == "sft" and shown.recipe_json == {"steps": 2} and shown.started_from == "bare"
    assert shown.dataset_json["by_source"]["sft"] == {"ai": 3, "human": 1}
    with pytest.raises(OversightError, match="first active version of 'base'"):
        rollback(store, "base")
    set_gate(store, second, {"passed": False})
    assert retire(store, first).status == "retired"
    assert active_version(store, "base") is None
    with pytest.raises(OversightError, match="no active version to roll back"):
        rollback(store, "base")


def test_bad_input_leaves_the_registry_unchanged(store: Store) -> None:
    first = candidate(store)
    promote(store, first)
    other = candidate(store, "/b", base="another-model")
    retired_one = candidate(store, "/c")
    promote(store, retired_one)
    rollback(store, "base")
    before = snapshot(store)
    cases = [
        (lambda: promote(store, 999), "no model version 999"),
        (lambda: promote(store, retired_one), f"version {retired_one} is retired; only a candidate"),
        (lambda: promote(store, other, base_model="m"), "trained on another-model"),
        (lambda: candidate(store, "/d", base="m", parent_id=other), "trained on another-model"),
        (lambda: candidate(store, "/d", parent_id=999), "no model version 999"),
        (lambda: retire(store, 999), "no model version 999"),
        (lambda: retire(store, retired_one), "already retired"),
        (lambda: candidate(store, "/d", started_from="halfway"), "started_from must be one of"),
    ]
    for call, message in cases:
        with pytest.raises(OversightError, match=message):
            call()
        assert snapshot(store) == before
    with pytest.raises(IntegrityError), store.session() as session:  # the partial index backs the rule up
        session.add(ModelVersion(role="base", kind="adapter", path="/x", base_model="m", status="active"))
    assert snapshot(store) == before


def test_two_promotions_at_once_leave_one_active(store: Store) -> None:
    ids = [candidate(store, f"/v{i}") for i in range(6)]
    errors: list[BaseException] = []

    def work(version: int) -> None:
        try:
            promote(store, version)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(v,)) for v in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    statuses = [v.status for v in list_versions(store)]
    assert statuses.count("active") == 1 and statuses.count("retired") == 5


def test_cleanup_keeps_active_candidates_and_rollback_target(store: Store, settings: Settings) -> None:
    folders = []
    for i in range(5):
        folder = settings.adapters_dir / "base" / f"v{i}"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"x")
        folders.append(folder)
    outside = settings.home.parent / "outside"
    outside.mkdir(parents=True)
    ids = [candidate(store, str(f)) for f in folders]
    for version in ids[:4]:
        promote(store, version)
    elsewhere = register_version(store, "base", "adapter", str(outside), "m", activate=False)
    activate(store, elsewhere)
    activate(store, ids[3])
    # active: v3; rollback target: elsewhere; retired: v0, v1, v2 (and elsewhere); candidate: v4
    removed = cleanup_retired(settings, store, "base", keep=1)
    assert [v.id for v in removed] == [ids[1], ids[0]]
    assert [f.exists() for f in folders] == [False, False, True, True, True]
    assert outside.exists()
    assert {v.id: v.status for v in list_versions(store)} == {
        ids[2]: "retired", ids[3]: "active", ids[4]: "candidate", elsewhere: "retired"}
    assert rollback(store, "base").id == elsewhere
    with pytest.raises(OversightError, match="0 or more"):
        cleanup_retired(settings, store, "base", keep=-1)


def test_upgrade_turns_active_flags_into_statuses(make_store: Callable[[], Store]) -> None:
    store = make_store()
    store.migrate("0002")
    with store.connect() as conn:
        for i, active in enumerate((False, True, False)):
            conn.execute(text("INSERT INTO model_versions (role, kind, path, base_model, metrics_json, active, "
                              "created_at) VALUES ('critic', 'head', :p, 'm', '{}', :a, :t)"),
                         {"p": f"/h/{i}", "a": active, "t": f"2026-11-2{i} 10:00:00"})
    store.migrate()
    versions = list_versions(store)
    assert [v.status for v in versions] == ["retired", "active", "retired"]
    assert versions[1].activated_at is not None and versions[0].activated_at is None
    assert versions[0].recipe_json == {} and versions[0].gate_json is None
    assert active_version(store, "critic") is not None


def test_models_commands(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from oversight.cli.main import main

    store = Store.open(settings)
    model = "HuggingFaceTB/SmolLM2-135M-Instruct"
    first = register_version(store, "base", "adapter", "/v/1", model, {"train_loss": 1.25}, activate=False,
                             algorithm="sft", recipe={"file": "roles/recipes/base_sft.yaml", "steps": 2},
                             started_from="bare", constitution_hash="c1",
                             dataset={"export_id": "e1f2", "data_until": "2026-11-29T21:00:00+00:00",
                                      "counts": {"sft": {"train": 9, "test": 1}},
                                      "by_source": {"sft": {"ai": 7, "human": 3}},
                                      "row_hashes": {"sft": ["a"] * 10}, "constitution_hashes": ["c1"],
                                      "reviewers": ["ana", "bo"]})
    other = register_version(store, "base", "adapter", "/v/2", "another/model", activate=False)
    assert main(["models", "promote", str(first)]) == 0
    assert capsys.readouterr().out.strip() == f"base: version {first} is active"
    assert main(["models", "promote", str(other)]) == 2
    assert "trained on another/model" in capsys.readouterr().err
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"{first}  base     adapter active    sft    bare" in listed and "train_loss 1.250" in listed
    assert main(["models", "show", str(first)]) == 0
    shown = capsys.readouterr().out
    for line in ("algorithm: sft; started from: the bare model", "dataset: export e1f2",
                 "sft: 9 train + 1 test rows; by source ai 7, human 3", "row hashes: 10 recorded",
                 "constitution hashes: c1", "learned from reviewers: ana, bo", "gate: not gated"):
        assert line in shown, line
    assert main(["models", "rollback", "base"]) == 2
    assert "first active version of 'base'" in capsys.readouterr().err
    assert main(["models", "show", "99"]) == 2 and capsys.readouterr().err.strip() == "error: no model version 99"
