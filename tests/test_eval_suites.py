"""The evaluation suites: valid items, enough variety, and no overlap with training material."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from oversight.errors import ConfigError, OversightError
from oversight.eval.overlap import NEAR_DUPLICATE, find_overlaps, training_prompts
from oversight.eval.suites import KINDS, items_hash, load_suite, load_suites, select, suite_names
from oversight.settings import PROJECT_DIR


def test_suites_validate_and_cover_what_they_promise() -> None:
    assert set(KINDS) | {"loop"} <= set(suite_names(PROJECT_DIR))
    suites = {s.name: s for s in load_suites([*KINDS, "loop"], PROJECT_DIR)}
    items = [i for name in KINDS for i in suites[name].items]
    assert 200 <= len(items) <= 400
    assert {i.suite for i in suites["loop"].items} == set(KINDS) and 100 <= len(suites["loop"].items) <= 140
    harmful = Counter(i.category for i in suites["harmful"].items)
    assert {"cyber", "weapons", "privacy", "fraud", "manipulation", "discrimination", "medical", "legal"} <= set(harmful)
    assert {"terse", "polite", "long", "cover-story", "document", "code"} <= {i.style for i in suites["harmful"].items}
    attacks = Counter(i.attack_type for i in suites["jailbreak"].items)
    assert {"injection", "roleplay", "encoding-base64", "encoding-rot13", "encoding-leetspeak", "policy-override",
            "many-shot", "multi-turn", "long-wrapper"} == set(attacks)
    assert min(attacks.values()) >= 4
    assert {"code", "writing", "planning", "facts", "maths"} <= {i.category for i in suites["helpful"].items}
    assert all(i.reference for i in suites["helpful"].items)
    for name in KINDS:
        splits = Counter(i.split for i in suites[name].items)
        assert splits["dev"] >= 10 and splits["test"] >= 20, (name, splits)
    loop_ids = {i.id: i for i in suites["loop"].items}
    primary = {i.id: i for i in items}
    assert all(primary[k] == v for k, v in loop_ids.items())  # the loop suite reuses items unchanged


def test_selection_split_limit_and_hash() -> None:
    suites = load_suites("all", PROJECT_DIR)
    test_items = select(suites, "test")
    assert {i.split for i in test_items} == {"test"}
    small = select(suites, "test", limit=2)
    assert len(small) == 8 and Counter(i.suite for i in small) == {k: 2 for k in KINDS}
    assert items_hash(small) == items_hash(list(reversed(small)))
    assert items_hash(small) != items_hash(select(suites, "test", limit=3))
    assert len(select(suites + load_suites("loop", PROJECT_DIR), None)) == len(select(suites, None))
    # a file that mixes suites, limited, takes them in turn: every rate of a small loop run is measured
    mixed = select(load_suites("loop", PROJECT_DIR), None, limit=4)
    assert Counter(i.suite for i in mixed) == {k: 1 for k in KINDS}


def test_bad_suites_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(OversightError, match="unknown suite 'nope'"):
        load_suites("nope", PROJECT_DIR)
    bad = tmp_path / "bad.jsonl"
    row = {"id": "x-1", "prompt": "hi", "suite": "harmful", "category": "c", "expected": "comply", "split": "test"}
    bad.write_text(json.dumps(row) + "\n")
    with pytest.raises(ConfigError, match="line 1") as info:
        load_suite(str(bad), PROJECT_DIR)
    assert "\n" not in str(info.value)
    with pytest.raises(OversightError, match="split"):
        select(load_suites("helpful", PROJECT_DIR), "train")
    with pytest.raises(OversightError, match="limit"):
        select(load_suites("helpful", PROJECT_DIR), "test", 0)


def test_no_item_overlaps_training_material_or_samples() -> None:
    """Exact (normalised) and near-duplicate (sentence-encoder cosine >= 0.9) checks."""
    from oversight.runtime.encoder import SentenceEncoder

    items = [i for s in load_suites("all", PROJECT_DIR) for i in s.items]
    others = training_prompts(PROJECT_DIR)
    assert len(others) > 500 and any(src.startswith("samples/") for src, _ in others)
    encoder = SentenceEncoder("all-minilm-l6-v2")
    overlaps = find_overlaps(items, others, encoder.embed, NEAR_DUPLICATE)
    assert not overlaps, "\n".join(f"{o.item_id} ~ {o.source} ({o.cosine:.2f}): {o.other[:60]}" for o in overlaps)
    # the check itself finds a reworded copy
    planted = items[0].model_copy(update={"prompt": others[0][1].rstrip("?.") + " please?"})
    assert find_overlaps([planted], others, encoder.embed, NEAR_DUPLICATE)


@pytest.mark.model  # the sentence encoder (a few seconds), not the language model
def test_no_trust_set_prompt_overlaps_training_material_or_samples() -> None:
    """Issue 10's sets (calibration, far prompts, the everyday check set, far exchanges, far judge pairs) are never trained on:
    no exact or near-duplicate (sentence-encoder cosine >= 0.9) of any training prompt or sample."""
    from types import SimpleNamespace

    from oversight.runtime.encoder import SentenceEncoder

    trust = PROJECT_DIR / "evals" / "trust"
    items = [SimpleNamespace(id=row["id"], prompt=row["prompt"])
             for name in ("calibration", "far_prompts", "everyday_check", "far_exchanges", "far_judge")
             for row in map(json.loads, (trust / f"{name}.jsonl").read_text().splitlines())]
    assert len(items) >= 128 + 120 + 30 + 40 + 30
    others = training_prompts(PROJECT_DIR)
    encoder = SentenceEncoder("all-minilm-l6-v2")
    overlaps = find_overlaps(items, others, encoder.embed, NEAR_DUPLICATE)  # type: ignore[arg-type]
    assert not overlaps, "\n".join(f"{o.item_id} ~ {o.source} ({o.cosine:.2f}): {o.other[:60]}" for o in overlaps)
