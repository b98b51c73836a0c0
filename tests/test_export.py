"""Training exports: TRL formats that round-trip through `datasets`, a split that never moves, the data rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from oversight.errors import OversightError
from oversight.store import CandidateRecord, CritiqueRecord, PreferenceRecord, Store, TrajectoryRecord
from oversight.store import ensure_run, register_version, save_trajectory
from oversight.store.tables import Run
from oversight.train.export import export_datasets
from oversight.train.export_config import ExportOptions, parse_time
from oversight.train.split import normalise_prompt, scrub, split_of

HASHES = {"graph_name": "default", "graph_hash": "g1", "constitution_name": "default", "constitution_hash": "c1"}


def add_run(store: Store, run_id: str, kind: str = "production") -> None:
    ensure_run(store, run_id, **HASHES)
    with store.session() as session:
        session.execute(update(Run).where(Run.id == run_id).values(kind=kind))


def add(store: Store, run_id: str, prompt_id: str, prompt: str, *, final: str = "final answer",
        route: str = "revised", notices: list[str] | None = None, human: str | None = None,
        pairs: list[tuple[str, str, float, str]] | None = None) -> None:
    """One resolved trajectory: base answer, a revision, the given pairs (chosen, rejected, p, source)."""
    candidates = [CandidateRecord(index=0, text="original answer", source="base",
                                  critiques=[CritiqueRecord(principle_id="harm", violation_prob=0.9, violated=True)]),
                  CandidateRecord(index=1, text=final, source="human" if human else "reviser", round=1)]
    default = [(final, "original answer", 0.8, "human" if human else "ai")]
    save_trajectory(store, TrajectoryRecord(
        run_id=run_id, prompt_id=prompt_id, prompt=prompt, route=route, final_response=final,  # type: ignore[arg-type]
        notices=notices or [], extra={"human": {"reviewer": human}} if human else {}, candidates=candidates,
        preference_pairs=[PreferenceRecord(prompt=prompt, chosen=c, rejected=r, probability=p, source=s,  # type: ignore[arg-type]
                                           constitution_hash="c1") for c, r, p, s in (pairs or default)]))


@pytest.fixture
def store(make_store: Callable[[], Store]) -> Store:
    store = make_store()
    store.migrate()
    return store


def filled(store: Store, count: int = 40) -> None:
    add_run(store, "prod")
    for i in range(count):
        add(store, "prod", f"p{i}", f"Question number {i}: how do I do thing {i}?")


def test_split_is_fixed_per_normalised_prompt() -> None:
    assert normalise_prompt("  How DO I\tkill a  process? ") == "how do i kill a process?"
    prompts = [f"prompt {i}" for i in range(2000)]
    held = [p for p in prompts if split_of(p, 0.1) == "test"]
    assert 150 < len(held) < 250
    assert all(split_of(p.upper() + "  ", 0.1) == "test" for p in held)
    assert scrub("write to ana@example.com or +1 415-555-0100") == "write to [EMAIL] or [PHONE]"
    assert scrub("what is 123456 * 7 in 2026?") == "what is 123456 * 7 in 2026?"
    assert parse_time("2026-11-29").tzinfo is not None
    with pytest.raises(OversightError, match="not a time"):
        parse_time("yesterday-ish")


def test_export_round_trips_through_datasets_and_keeps_its_split(store: Store, tmp_path: Path) -> None:
    from datasets import load_dataset, load_from_disk

    filled(store)
    first = export_datasets(store, tmp_path / "one")
    sft = load_from_disk(str(tmp_path / "one" / "sft"))
    assert set(sft) == {"train", "test"} and len(sft["train"]) + len(sft["test"]) == 40
    assert sft["train"][0]["messages"][0]["role"] == "user"
    assert sft["train"][0]["messages"][1] == {"role": "assistant", "content": "final answer"}
    pref = load_from_disk(str(tmp_path / "one" / "preference"))
    row = pref["train"][0]
    assert row["chosen"] == [{"role": "assistant", "content": "final answer"}] and row["source"] == "ai"
    assert row["principle"] == "harm" and row["probability"] == pytest.approx(0.8)
    reward = load_from_disk(str(tmp_path / "one" / "reward"))
    assert reward["train"][0]["margin"] == pytest.approx(0.6)
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["export_id"] == first.export_id and len(manifest["row_hashes"]["sft"]) == 40
    assert manifest["counts"]["sft"]["test"] == len(sft["test"]) > 0

    for i in range(40, 60):  # new rows arrive; the old prompts keep their split
        add(store, "prod", f"p{i}", f"Question number {i}: how do I do thing {i}?")
    second = export_datasets(store, tmp_path / "two", ExportOptions(format="jsonl"))
    assert second.export_id != first.export_id
    test_two = load_dataset("json", data_files=str(tmp_path / "two" / "sft" / "test.jsonl"))["train"]
    held_one = {r["messages"][0]["content"] for r in sft["test"]}
    held_two = {r["messages"][0]["content"] for r in test_two}
    assert held_one < held_two
    train_two = load_dataset("json", data_files=str(tmp_path / "two" / "sft" / "train.jsonl"))["train"]
    assert not held_one & {r["messages"][0]["content"] for r in train_two}


def test_data_rules(store: Store, tmp_path: Path) -> None:
    from datasets import load_from_disk

    add_run(store, "prod")
    add_run(store, "gen", "datagen")
    add_run(store, "measure", "eval")
    add(store, "measure", "e1", "eval prompt never exported")
    add(store, "prod", "cut", "long prompt", final="original answer", route="accepted",
        notices=["answer cut at the 96-token limit"])
    add(store, "prod", "err", "broken prompt", route="error")
    add(store, "gen", "g1", "mail bob@example.com please", final="Reach me at 555-123-4567 ok")
    add(store, "prod", "unsure", "unsure prompt", pairs=[("a", "b", 0.55, "ai")])
    add(store, "prod", "ai1", "Shared prompt", final="ai final")
    add(store, "gen", "hum", "shared   PROMPT", final="human final", human="ana")
    opts = ExportOptions(scrub=True, heldout_fraction=0.0)
    result = export_datasets(store, tmp_path / "out", opts)
    sft = load_from_disk(str(tmp_path / "out" / "sft"))["train"]
    texts = {r["messages"][0]["content"]: r for r in sft}
    assert set(texts) == {"mail [EMAIL] please", "unsure prompt", "shared   PROMPT"}
    assert texts["mail [EMAIL] please"]["messages"][1]["content"] == "Reach me at [PHONE] ok"
    assert texts["shared   PROMPT"]["source"] == "human" and texts["shared   PROMPT"]["weight"] == 2.0
    pref = load_from_disk(str(tmp_path / "out" / "preference"))["train"]
    by_prompt = {r["prompt"][0]["content"]: r for r in pref}
    assert "unsure prompt" not in by_prompt  # below the confidence floor
    assert [r["source"] for r in pref if "hared" in r["prompt"][0]["content"]] == ["human"]
    assert by_prompt["shared   PROMPT"]["reviewer"] == "ana"
    assert result.manifest["reviewers"] == ["ana"] and result.manifest["constitution_hashes"] == ["c1"]
    assert result.manifest["by_source"]["preference"] == {"ai": 2, "human": 1}
    human = export_datasets(store, tmp_path / "human", ExportOptions(source="human"))
    assert human.manifest["counts"]["sft"]["train"] + human.manifest["counts"]["sft"]["test"] == 1
    with pytest.raises(OversightError, match="nothing to export"):
        export_datasets(store, tmp_path / "none", ExportOptions(route="blocked"))
    assert not (tmp_path / "none").exists()


def test_since_version_and_bad_folders(store: Store, tmp_path: Path) -> None:
    filled(store, 5)
    first = export_datasets(store, tmp_path / "a")
    version = register_version(store, "base", "adapter", "/v", "m", activate=False, dataset=first.snapshot())
    with pytest.raises(OversightError, match="nothing to export"):
        export_datasets(store, tmp_path / "b", ExportOptions(since_version=version))
    add(store, "prod", "new", "a new question")
    newer = export_datasets(store, tmp_path / "b", ExportOptions(since_version=version))
    assert sum(newer.manifest["counts"]["sft"].values()) == 1
    with pytest.raises(OversightError, match="no model version 99"):
        export_datasets(store, tmp_path / "c", ExportOptions(since_version=99))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(OversightError, match="not empty"):
        export_datasets(store, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    export_datasets(store, tmp_path / "a")  # an earlier export is replaced
