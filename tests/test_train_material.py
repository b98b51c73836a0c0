"""Training material, metrics, heads, recipes and prompt formatting (no model needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from oversight.constitution import HARM_CATEGORIES, load_constitution
from oversight.errors import ConfigError, OversightError
from oversight.eval.metrics import accuracy, auroc, binary_report, expected_calibration_error
from oversight.roles import load_roles
from oversight.runtime.heads import Head, HeadOutput, HeadSpec
from oversight.runtime.prompts import PromptBook
from oversight.settings import PROJECT_DIR, Settings
from oversight.train.material import load_material
from oversight.train.recipes import load_recipe


def test_metrics_match_hand_computed_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert auroc(y, [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc(y, [0.5, 0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert accuracy(y, [0.1, 0.6, 0.7, 0.9]) == pytest.approx(0.75)
    # all predictions 0.75 in one bin, half positive: gap 0.25
    assert expected_calibration_error(y, [0.75] * 4) == pytest.approx(0.25)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == pytest.approx(0.0)
    assert np.isnan(auroc([1, 1], [0.2, 0.3]))
    assert binary_report(y, [0.1, 0.4, 0.35, 0.8])["positives"] == 2


def test_shipped_material_loads_with_both_splits() -> None:
    default = load_constitution("default", PROJECT_DIR)
    strict = load_constitution("strict", PROJECT_DIR)
    assert len(strict.material) == 2 and strict.material[0] == default.material[0]
    for kind in ("safety", "critique_revision", "judge"):
        material = load_material(default, kind)
        material.require_splits("train", "heldout")
        assert len(material.split("heldout")) >= 20
        assert not {i.id for i in material.split("train")} & {i.id for i in material.split("heldout")}
    strict_demos = load_material(strict, "critique_revision")
    assert any(d.principle == "professional-advice" for d in strict_demos.items)
    assert len(strict_demos.items) > len(load_material(default, "critique_revision").items)


def test_safety_material_does_not_tie_length_or_line_breaks_to_jailbreaks() -> None:
    """Until 2026-12-07 every request over 200 characters and nearly every multi-line one in the safety
    material was a jailbreak, and the head had learned it: 44 of 45 long everyday requests written since
    were rated jailbreaks at p >= 0.9. In each split, long and multi-line requests must include benign
    and plainly harmful (not jailbreak) ones, and jailbreaks may be at most about half of them."""
    requests = [i for i in load_material(load_constitution("default", PROJECT_DIR), "safety").items
                if i.response is None]
    for split in ("train", "heldout"):
        for name, shape in (("over 200 characters", lambda p: len(p) > 200), ("multi-line", lambda p: "\n" in p)):
            rows = [i for i in requests if i.split == split and shape(i.prompt)]
            benign = sum(not i.harmful for i in rows)
            plain_harm = sum(i.harmful and not i.jailbreak for i in rows)
            jailbreaks = len(rows) - benign - plain_harm
            assert benign >= 9 and plain_harm >= 1, (split, name, benign, plain_harm)
            assert jailbreaks <= 0.55 * len(rows), (split, name, jailbreaks, len(rows))


def _constitution_with(tmp_path: Path, files: dict[str, list[dict]]) -> object:
    folder = tmp_path / "material" / "mine"
    folder.mkdir(parents=True)
    for name, rows in files.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "constitutions").mkdir()
    shutil.copy(PROJECT_DIR / "constitutions" / "default.yaml", tmp_path / "constitutions" / "default.yaml")
    text = (tmp_path / "constitutions" / "default.yaml").read_text().replace(
        "material: material/default", "material: ../material/mine")
    (tmp_path / "constitutions" / "mine.yaml").write_text(text.replace("name: default", "name: mine"))
    return load_constitution("mine", tmp_path)


SAFE = {"id": "s1", "split": "train", "prompt": "hi", "response": None, "harmful": False, "category": None,
        "jailbreak": False, "attack": None}


def test_missing_material_is_a_clear_error(tmp_path: Path) -> None:
    constitution = _constitution_with(tmp_path, {})
    with pytest.raises(OversightError, match=r"training material missing: no .*safety\.jsonl"):
        load_material(constitution, "safety")


def test_empty_split_is_a_clear_error(tmp_path: Path) -> None:
    constitution = _constitution_with(tmp_path, {"safety": [SAFE]})
    with pytest.raises(OversightError, match=r"the 'heldout' split is empty"):
        load_material(constitution, "safety").require_splits("train", "heldout")


def test_label_outside_the_constitution_names_file_and_line(tmp_path: Path) -> None:
    bad = {**SAFE, "id": "s2", "harmful": True, "category": "weapons"}
    constitution = _constitution_with(tmp_path, {"safety": [SAFE, bad]})
    with pytest.raises(ConfigError, match=r"safety\.jsonl: line 2: category: not one of the constitution's "
                                          r"categories .*received 'weapons'"):
        load_material(constitution, "safety")


def test_unknown_principle_and_malformed_lines_are_reported(tmp_path: Path) -> None:
    demo = {"id": "c1", "split": "train", "principle": "be-nice", "prompt": "p", "response": "r",
            "violates": False, "critique": "fine", "revision": None}
    constitution = _constitution_with(tmp_path, {"critique_revision": [demo]})
    with pytest.raises(ConfigError, match=r"line 1: principle: not a principle of constitution 'mine'"):
        load_material(constitution, "critique_revision")
    path = constitution.material[0] / "critique_revision.jsonl"
    path.write_text('{"id": "c1", "split": "train"\n')
    with pytest.raises(ConfigError, match=r"critique_revision\.jsonl: line 1: malformed JSON"):
        load_material(constitution, "critique_revision")
    path.write_text(json.dumps({**demo, "principle": "privacy", "violates": True}) + "\n")
    with pytest.raises(ConfigError, match=r"line 1: item: a violating item needs a revision"):
        load_material(constitution, "critique_revision")


def _toy_head(tmp_path: Path) -> Head:
    rng = np.random.default_rng(0)
    spec = HeadSpec(role="judge", base_model="m", layers=(-8,), pooling="last", feature_dtype="bfloat16",
                    outputs={"p": HeadOutput(kind="pairwise", template="single", platt_a=1.5),
                             "b": HeadOutput(kind="binary", template="single", platt_a=2.0, platt_c=-0.5),
                             "m": HeadOutput(kind="multiclass", template="single", labels=("x", "y", "z"),
                                             temperature=2.0)})
    arrays = {"mean": rng.normal(size=6), "scale": np.ones(6), "p.weight": rng.normal(size=6),
              "p.bias": np.zeros(1), "b.weight": rng.normal(size=6), "b.bias": np.array([0.3]),
              "m.weight": rng.normal(size=(3, 6)), "m.bias": np.zeros(3)}
    return Head(spec, arrays)


def test_head_round_trips_without_pickle_and_pairwise_is_order_symmetric(tmp_path: Path) -> None:
    head = _toy_head(tmp_path)
    path = head.save(tmp_path / "h" / "head.json")
    assert (tmp_path / "h" / "head.safetensors").is_file()
    loaded = Head.load(path)
    x = np.random.default_rng(1).normal(size=(4, 6))
    y = np.random.default_rng(2).normal(size=(4, 6))
    np.testing.assert_allclose(loaded.binary("b", x), head.binary("b", x), rtol=1e-6)
    np.testing.assert_allclose(loaded.pairwise("p", x, y), 1 - loaded.pairwise("p", y, x), rtol=1e-6)
    probs = loaded.multiclass("m", x)
    assert all(abs(sum(p.values()) - 1) < 1e-6 and set(p) == {"x", "y", "z"} for p in probs)
    with pytest.raises(OversightError, match="expects 6 features"):
        loaded.binary("b", np.zeros((1, 5)))
    (tmp_path / "h" / "head.json").write_text("{}")
    with pytest.raises(OversightError, match="not a valid head file"):
        Head.load(path)


def test_recipes_validate_and_accept_overrides() -> None:
    recipe = load_recipe("reviser", PROJECT_DIR, ["steps=2", "batch_size=2"])
    assert recipe.kind == "sft" and recipe.steps == 2 and recipe.batch_size == 2
    assert load_recipe("critic", PROJECT_DIR).share_adapter_with == "reviser"
    with pytest.raises(ConfigError, match=r"recipes/safety\.yaml: folds: .*received 1"):
        load_recipe("safety", PROJECT_DIR, ["folds=1"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_recipe("judge", PROJECT_DIR, ["stepz=3"])
    with pytest.raises(OversightError, match="no trainer for role 'base'"):
        load_recipe("base", PROJECT_DIR)


def test_prompts_are_shared_by_training_and_inference() -> None:
    roles_file = load_roles("default", PROJECT_DIR)
    constitution = load_constitution("default", PROJECT_DIR)
    book = PromptBook(roles_file)
    harm, privacy = constitution.principle("harmful-instructions"), constitution.principle("privacy")
    one = book.revise("p", "draft", [(harm, "gives weapon steps")])[-1]["content"]
    assert "Critique: gives weapon steps" in one and harm.revision_request in one
    two = book.revise("p", "draft", [(harm, "c1"), (privacy, "c2")])[-1]["content"]
    assert "- (harmful-instructions) c1\n- (privacy) c2" in two and privacy.revision_request in two
    verdict = book.critic_verdict(harm, "req", "resp")[-1]["content"]
    assert verdict.endswith("Answer Yes or No.") and harm.text in verdict
    bad = load_roles("default", PROJECT_DIR, ["roles.judge.prompts.single=Rate {nonsense}"])
    with pytest.raises(ConfigError, match=r"roles\.judge\.prompts\.single: unknown placeholder \{nonsense\}"):
        PromptBook(bad).judge_single(harm, "p", "r")


def test_a_head_read_through_another_template_is_trained_again(settings: Settings, tmp_path: Path) -> None:
    """Changing a template in the roles file makes the active head stale: the bootstrap retrains it, saying why."""
    from oversight.roles import load_roles
    from oversight.runtime.heads import head_templates
    from oversight.runtime.versions import VersionManifest
    from oversight.store import Store, register_version
    from oversight.train.bootstrap import roles_to_train

    roles_file = load_roles("default", PROJECT_DIR)
    critic = roles_file.roles["critic"]
    head = _toy_head(tmp_path)
    head.spec.role, head.spec.layers = "critic", critic.features.layers
    head.spec.base_model = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the role's model: a head for another is refused
    head.spec.pooling, head.spec.encoder = critic.features.pooling, critic.features.encoder
    assert "no prompt templates" in (head.spec.mismatch(critic) or "")  # heads saved before templates were recorded
    head.spec.templates = head_templates(critic, {"verdict", "exchange"})
    assert head.spec.mismatch(critic) == "its encoder read the whole chat, the roles file asks for exchange"
    head.spec.encoder_input = critic.features.encoder_input
    assert head.spec.mismatch(critic) is None
    folder = tmp_path / "critic-v1"
    head.save(folder / "head.json")
    VersionManifest(role="critic", kind="head", head="head.json", adapter_from="reviser").write(folder)
    store = Store.open(settings)
    version = register_version(store, "critic", "head", str(folder), head.spec.base_model)
    assert "critic" not in roles_to_train(store, roles_file)
    assert roles_to_train(store, roles_file)["safety"] == "no trained version yet"

    edited = load_roles("default", PROJECT_DIR, ["roles.critic.prompts.verdict=Does {response} violate {principle}?"])
    why = roles_to_train(store, edited)["critic"]
    assert why == (f"the active head (version {version}) no longer fits: its prompt template 'verdict' differs "
                   "from the roles file's")
    deeper = load_roles("default", PROJECT_DIR, ["roles.critic.features.layers=[-4]"])
    assert "the roles file asks for [-4]" in roles_to_train(store, deeper)["critic"]


def test_encoder_input_without_an_encoder_is_refused_in_one_line() -> None:
    """Otherwise the head would record no encoder input and look stale on every run."""
    with pytest.raises(ConfigError, match=r"encoder_input 'exchange' needs an encoder"):
        load_roles("default", PROJECT_DIR, ["roles.critic.features.encoder=null"])


def test_heads_learn_which_principle_and_that_notes_to_the_overseers_say_nothing() -> None:
    """The augmented train rows (train/head_augment.py): cross-principle negatives for the critic, overseer
    notes on safety exchanges and judge pairs; the held-out split stays as written."""
    from oversight.train.head_augment import cross_principle_negatives, overseer_notes
    from oversight.train.head_config import HeadRecipe
    from oversight.train.head_tasks import critic_tasks, judge_tasks, safety_tasks

    default = load_constitution("default", PROJECT_DIR)
    book = PromptBook(load_roles("default", PROJECT_DIR))
    demos = load_material(default, "critique_revision").items
    train = [d for d in demos if d.split == "train"]
    pairs = list(cross_principle_negatives(demos, default, 2))
    assert pairs and {d.split for _, d in pairs} == {"train"}
    assert all(p.id != d.principle for p, d in pairs)
    assert len(pairs) == 2 * len(train) and len(list(cross_principle_negatives(demos, default, 99))) <= \
        len(train) * (len(default.principles) - 1)
    violating = {(d.prompt, d.response, d.principle) for d in demos if d.violates}
    assert not any((d.prompt, d.response, p.id) in violating for p, d in pairs)
    harm = {p.id for p in default.principles if p.category in HARM_CATEGORIES}
    harm_pairs = list(cross_principle_negatives(demos, default, 2, harm_only=True))
    assert harm_pairs and all(p.id in harm and not (d.violates and d.principle in harm) for p, d in harm_pairs)

    plain, crossed = (critic_tasks(HeadRecipe(role="critic", cross_principle_negatives=c), book, default)[0]
                      for c in (0, 2))
    assert len(crossed.train) == len(plain.train) + len(pairs) and len(crossed.heldout) == len(plain.heldout)
    assert crossed.y_train[len(plain.train):] == [0] * len(pairs) and crossed.y_heldout == plain.y_heldout
    assert crossed.added == set(range(len(plain.train), len(crossed.train))) and not plain.added

    notes = overseer_notes(default)
    assert len(notes) >= 8
    trust = json.loads((PROJECT_DIR / "evals" / "trust" / "injection_notes.json").read_text())["notes"]
    assert not set(notes) & set(trust)  # the measured notes are never trained on
    bare, noted = (next(t for t in safety_tasks(HeadRecipe(role="safety", overseer_notes=n), book, default)
                        if t.name == "response_harmful") for n in (0, 1))
    assert len(noted.train) == 2 * len(bare.train) and noted.y_train == bare.y_train * 2
    assert len(noted.heldout) == len(bare.heldout)
    added = [noted.fields[id(c)]["response"] for c in noted.train[len(bare.train):]]
    assert all(any(r.endswith(n) for n in notes) for r in added)
    bare_j, noted_j = (judge_tasks(HeadRecipe(role="judge", overseer_notes=n), book, default)[0] for n in (0, 1))
    assert len(noted_j.train) == 3 * len(bare_j.train) and noted_j.y_train[len(bare_j.train)::2] == bare_j.y_train


def test_critic_readouts_learn_that_a_revision_violates_nothing() -> None:
    """`revision_negatives`: each train demo's revision joins every per-principle read-out as a train answer
    labelled not violated, an own row of the demo's principle only; the draft rows, held-out rows and labels
    stay as they were, and no held-out answer or request's revision becomes a train row."""
    from oversight.train.head_config import HeadRecipe
    from oversight.train.head_tasks import critic_tasks

    default = load_constitution("default", PROJECT_DIR)
    book = PromptBook(load_roles("default", PROJECT_DIR))
    demos = load_material(default, "critique_revision").items
    fixes = {(d.prompt, d.revision): d.principle for d in demos if d.split == "train" and d.revision}
    held = {(d.prompt, d.response) for d in demos if d.split == "heldout"}
    plain, extended = (critic_tasks(HeadRecipe(role="critic", principle_readouts=True, revision_negatives=r),
                                    book, default)[1:] for r in (False, True))
    assert len(plain) == len(extended) == len(default.principles)
    for before, after in zip(plain, extended, strict=True):
        principle = after.name.split("@", 1)[1]
        assert after.train[:len(before.train)] == before.train and after.y_train[:len(before.y_train)] == before.y_train
        added = range(len(before.train), len(after.train))
        rows = [(after.fields[id(after.train[i])]["prompt"], after.fields[id(after.train[i])]["response"])
                for i in added]
        assert rows and set(rows) <= set(fixes) and not set(rows) & held
        assert [after.y_train[i] for i in added] == [0] * len(added)
        own = {i for i, row in zip(added, rows, strict=True) if fixes[row] == principle}
        assert own and own.isdisjoint(after.added) and set(added) - own <= after.added
        assert after.heldout == before.heldout and after.y_heldout == before.y_heldout


def test_critic_harm_readouts_learn_the_safety_material_exchanges() -> None:
    """`safety_exchanges`: each safety-material train exchange joins every read-out (they share their rows),
    violated only under the harm principle of its category; under a harm principle, refusals and harmless
    answers are own rows labelled 0 and another harm's answer shapes the weights only; under the other
    principles every such row shapes the weights only."""
    from oversight.train.head_config import HeadRecipe
    from oversight.train.head_tasks import critic_tasks

    default = load_constitution("default", PROJECT_DIR)
    book = PromptBook(load_roles("default", PROJECT_DIR))
    safety = [i for i in load_material(default, "safety").items if i.split == "train" and i.response is not None]
    category = {(i.prompt, i.response): i.category if i.harmful else None for i in safety}
    plain, extended = (critic_tasks(HeadRecipe(role="critic", principle_readouts=True, safety_exchanges=flag),
                                    book, default)[1:] for flag in (False, True))
    harm = {p.id: p.category for p in default.principles if p.category in HARM_CATEGORIES}
    for before, after in zip(plain, extended, strict=True):
        principle = after.name.split("@", 1)[1]
        assert after.train[:len(before.train)] == before.train and after.heldout == before.heldout
        added = range(len(before.train), len(after.train))
        rows = [(after.fields[id(after.train[i])]["prompt"], after.fields[id(after.train[i])]["response"])
                for i in added]
        assert len(rows) == len(category) and set(rows) == set(category)
        if principle not in harm:  # the read-outs share their rows: here they shape the weights only
            assert set(added) <= after.added and not any(after.y_train[i] for i in added)
            continue
        for i, row in zip(added, rows, strict=True):
            assert after.y_train[i] == int(category[row] == harm[principle])
            assert (i in after.added) == (category[row] not in (None, harm[principle]))
        assert 1 in after.y_train[len(before.train):] and 0 in after.y_train[len(before.train):]


def test_critic_readouts_learn_that_everyday_answers_violate_nothing() -> None:
    """`everyday_exchanges`: the safety material's compliant answers to harmless requests join every read-out
    as train rows labelled not violated and shaping the weights only; no refusal, no answer to a request the
    material calls harmful or a jailbreak, nothing held out, and the existing rows stay as they were."""
    from oversight.classify import classify
    from oversight.train.head_config import HeadRecipe
    from oversight.train.head_tasks import critic_tasks

    default = load_constitution("default", PROJECT_DIR)
    book = PromptBook(load_roles("default", PROJECT_DIR))
    safety = load_material(default, "safety").items
    flagged = {i.prompt for i in safety if i.split == "train" and (i.harmful or i.jailbreak)}
    exchanges = {(i.prompt, i.response) for i in safety if i.split == "train" and i.response is not None}
    held = {(d.prompt, d.response) for d in load_material(default, "critique_revision").items if d.split == "heldout"}
    plain, extended = (critic_tasks(HeadRecipe(role="critic", principle_readouts=True, everyday_exchanges=flag),
                                    book, default)[1:] for flag in (False, True))
    for before, after in zip(plain, extended, strict=True):
        assert after.train[:len(before.train)] == before.train and after.y_train[:len(before.y_train)] == before.y_train
        assert after.heldout == before.heldout and after.added >= before.added
        added = range(len(before.train), len(after.train))
        rows = [(after.fields[id(after.train[i])]["prompt"], after.fields[id(after.train[i])]["response"])
                for i in added]
        assert len(rows) >= 30 and set(rows) <= exchanges and not set(rows) & held
        assert not {prompt for prompt, _ in rows} & flagged
        assert all(classify(prompt, response) == "comply" for prompt, response in rows)
        assert set(added) <= after.added and not any(after.y_train[i] for i in added)


def test_multiclass_head_fits_when_a_class_has_a_single_row() -> None:
    """A tiny sample (quick tests, scant material) can hold one row of a class: a cross-fitting fold is then left
    with one class, which scikit-learn refuses; that fold is scored by class frequency instead of crashing."""
    from oversight.train.head_fit import fit_multiclass

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 8)).astype(np.float32)
    fit = fit_multiclass(x, ["a", "a", "a", "a", "b"], ("a", "b", "c"), c_grid=(0.1, 1.0), folds=2, seed=0,
                         max_iter=50, calibrate=True, what="test head")
    assert fit.weight.shape == (3, 8) and fit.bias[2] == -30.0  # the unseen class keeps ~0 probability
    assert np.isfinite(fit.temperature)
