"""Training the base role's adapter: recipes, bad input, SFT/DPO weight changes, the reward model's ranking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oversight.constitution import load_constitution
from oversight.errors import ConfigError, OversightError
from oversight.settings import Settings
from oversight.store import Store, list_versions
from oversight.train.base_data import load_base_data
from oversight.train.base_recipes import load_base_recipe
from oversight.train.base_trainer import train_base
from oversight.train.dpo_config import DPORecipe
from oversight.train.material_sets import material_dataset

TINY = ["steps=2", "batch_size=2", "eval_rows=2", "max_length=128", "top_layers=2", "max_rows=8"]


@pytest.fixture
def store(settings: Settings) -> Store:
    return Store.open(settings)


def constitution(settings: Settings) -> Any:
    return load_constitution("default", settings.project_dir)


def test_recipes_ship_and_validate(settings: Settings) -> None:
    for algo in ("sft", "dpo", "reward"):
        recipe = load_base_recipe(algo, f"base_{algo}", settings.project_dir)
        assert recipe.algo == algo and recipe.lora_r == 8 and recipe.max_length == 256
    dpo = load_base_recipe("dpo", "base_dpo", settings.project_dir)
    assert isinstance(dpo, DPORecipe) and dpo.rpo_alpha > 0  # constitutional AI's order: likelihood kept


def test_unknown_recipe_key_names_file_and_key(settings: Settings) -> None:
    with pytest.raises(ConfigError, match=r"base_dpo\.yaml: bogus: unknown key"):
        load_base_recipe("dpo", "base_dpo", settings.project_dir, ["bogus=1"])
    with pytest.raises(ConfigError, match="recipe is for 'sft'"):
        load_base_recipe("dpo", "base_sft", settings.project_dir)


def test_rpo_and_soft_labels_map_to_trl_fields() -> None:
    recipe = DPORecipe(rpo_alpha=0.5, beta=0.2)
    assert recipe.to_trl_loss(0.9) == {"loss_type": ["robust", "sft"], "loss_weights": [1.0, 0.5],
                                       "label_smoothing": 0.1, "beta": 0.2}
    assert recipe.to_trl_loss(1.0)["loss_type"] == ["sigmoid", "sft"]
    plain = DPORecipe(rpo_alpha=0, soft_labels=False)
    assert plain.to_trl_loss(0.6) == {"loss_type": ["sigmoid"], "loss_weights": [1.0], "label_smoothing": 0.0,
                                      "beta": 0.1}


def test_bad_datasets_fail_in_one_line_and_leave_registry_alone(settings: Settings, store: Store,
                                                                 tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(OversightError, match="empty"):
        train_base(settings, store, algo="sft", dataset=empty, progress=False)
    no_rows = DatasetDict({"train": Dataset.from_list([]), "test": Dataset.from_list([])})
    with pytest.raises(OversightError, match="no dpo training rows"):
        train_base(settings, store, algo="dpo", dataset=no_rows, progress=False)
    wrong = DatasetDict({"train": Dataset.from_list([{"text": "hello"}])})
    with pytest.raises(OversightError, match="lacks column"):
        train_base(settings, store, algo="reward", dataset=wrong, progress=False)
    unsure = material_dataset(constitution(settings), "preference").map(lambda r: {"probability": 0.55})
    with pytest.raises(OversightError, match="probability >= 0.6"):
        train_base(settings, store, algo="dpo", dataset=unsure, progress=False)
    with pytest.raises(OversightError, match="unknown key"):
        train_base(settings, store, algo="sft", dataset=unsure, overrides=["nonsense=1"], progress=False)
    with pytest.raises(OversightError, match="no model version 99"):
        train_base(settings, store, algo="dpo", dataset=material_dataset(constitution(settings), "preference"),
                   parent_version=99, progress=False)
    assert list_versions(store) == []
    assert not (settings.adapters_dir / "base").exists() or not any((settings.adapters_dir / "base").iterdir())


def test_export_folder_layout_is_read(settings: Settings, tmp_path: Path) -> None:
    """An export folder (sft/, preference/ + manifest.json) loads; the manifest's export id is recorded."""
    data = material_dataset(constitution(settings), "preference")
    data.save_to_disk(str(tmp_path / "export" / "preference"))
    (tmp_path / "export" / "manifest.json").write_text(json.dumps({"export_id": "abc123", "reviewers": ["ana"]}))
    loaded = load_base_data(tmp_path / "export", "dpo", system_prompt="Be kind.")
    assert loaded.snapshot["export_id"] == "abc123" and loaded.snapshot["reviewers"] == ["ana"]
    assert loaded.train[0]["prompt"][0] == {"role": "system", "content": "Be kind."}
    assert len(loaded.row_hashes) == len(loaded.train) == data["train"].num_rows


def _weights(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    lora, base = {}, {}
    for name, param in model.named_parameters():
        (lora if "lora_" in name else base)[name] = param.detach().float().clone()
    return lora, base


@pytest.mark.model
@pytest.mark.parametrize("algo", ["sft", "dpo"])
def test_two_steps_change_the_adapter_and_not_the_base(settings: Settings, algo: str, tmp_path: Path) -> None:
    """The functions train_base runs: LoRA matrices move, every base weight stays bit-identical."""
    from oversight.roles import load_roles
    from oversight.train.base_trainer import run_algorithm
    from oversight.train.lora_setup import policy_model

    recipe = load_base_recipe(algo, f"base_{algo}", settings.project_dir,
                              [*TINY, "learning_rate=0.01", "warmup_steps=0"])
    roles_file = load_roles("default", settings.project_dir)
    data = load_base_data(material_dataset(constitution(settings), "sft" if algo == "sft" else "preference"), algo,
                          system_prompt=roles_file.roles["base"].system_prompt, max_rows=recipe.max_rows)
    model, tokenizer = policy_model(recipe, roles_file.model_for("base"), settings.models_dir, None)
    lora_before, base_before = _weights(model)
    metrics = run_algorithm(recipe, model, tokenizer, data, tmp_path / "work", progress=False)
    lora_after, base_after = _weights(model)
    assert metrics["train_loss"] > 0
    assert any(not lora_before[k].equal(lora_after[k]) for k in lora_before if "lora_B" in k)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    assert base_before.keys() == base_after.keys()
    assert all(base_before[k].equal(base_after[k]) for k in base_before)


@pytest.mark.model
def test_sft_then_dpo_register_candidates_with_provenance(settings: Settings, store: Store) -> None:
    from safetensors.torch import load_file

    c = constitution(settings)
    sft = train_base(settings, store, algo="sft", dataset=material_dataset(c, "sft"), overrides=TINY, progress=False)
    dpo = train_base(settings, store, algo="dpo", dataset=material_dataset(c, "preference"),
                     overrides=[*TINY, "learning_rate=0.01"], parent_version=sft.version_id, progress=False)
    versions = {v.id: v for v in list_versions(store, "base")}
    assert versions[sft.version_id].status == "candidate" and versions[dpo.version_id].status == "candidate"
    assert versions[sft.version_id].started_from == "bare" and versions[sft.version_id].parent_id is None
    assert versions[dpo.version_id].parent_id == sft.version_id and versions[dpo.version_id].algorithm == "dpo"
    assert versions[dpo.version_id].dataset_json["train_rows"] == 8
    assert versions[dpo.version_id].recipe_json["overrides"][0] == "steps=2"
    provenance = json.loads((dpo.folder / "provenance.json").read_text())
    assert provenance["init"] == "continued" and len(provenance["row_hashes"]) == 8
    before, after = (load_file(str(o.folder / "adapter" / "adapter_model.safetensors")) for o in (sft, dpo))
    assert before.keys() == after.keys() and any(not before[k].equal(after[k]) for k in before)
    assert dpo.folder.is_relative_to(settings.adapters_dir / "base")


@pytest.mark.model
def test_reward_model_ranks_differently_written_pairs(settings: Settings, store: Store) -> None:
    """Trained on revision-vs-draft pairs, tested on the judge material's separately written pairs.

    Measured with 24 steps on all 135 judge pairs: accuracy 0.91 (p = 1e-24); here 16 steps, 5 pairs a principle.
    """
    from scipy.stats import binomtest

    from oversight.roles import load_roles
    from oversight.runtime.loading import model_folder
    from oversight.train.material_sets import judge_rows
    from oversight.train.reward_trainer import RewardScorer

    c = constitution(settings)
    data = material_dataset(c, "preference", family="revision", heldout_family="judge")
    train_prompts = {r["prompt"][-1]["content"] for r in data["train"]}
    every = judge_rows(c)
    assert not train_prompts & {r["prompt"][-1]["content"] for r in every}  # no leakage
    held = [r for p in sorted({r["principle"] for r in every}) for r in [x for x in every if x["principle"] == p][:5]]
    outcome = train_base(settings, store, algo="reward", dataset=data, progress=False,
                         overrides=["eval_rows=0", "steps=16", "top_layers=6", "max_length=160"])
    assert outcome.role == "reward" and list_versions(store, "reward")[0].status == "candidate"
    roles_file = load_roles("default", settings.project_dir)
    system = [{"role": "system", "content": roles_file.roles["base"].system_prompt}]
    scorer = RewardScorer(outcome.folder / "adapter", model_folder(roles_file.model_for("base"), settings.models_dir))
    prompts = [system + r["prompt"] for r in held]
    chosen = scorer.score(prompts, [r["chosen"][0]["content"] for r in held])
    rejected = scorer.score(prompts, [r["rejected"][0]["content"] for r in held])
    wins = sum(c > r for c, r in zip(chosen, rejected, strict=True))
    accuracy = wins / len(held)
    assert accuracy >= 0.65, accuracy
    assert binomtest(wins, len(held), 0.5, alternative="greater").pvalue < 0.05


@pytest.mark.model
def test_tiny_loop_end_to_end(trained_home: Settings) -> None:
    """Measure, generate data (datagen run), export, SFT then DPO, measure again; the report has both sides."""
    from oversight.store import get_run
    from oversight.train.loop import run_loop
    from oversight.train.loop_config import LoopConfig
    from oversight.train.loop_report import before_after_table, write_loop_report

    store = Store.open(trained_home)
    lines: list[str] = []
    report = run_loop(trained_home, store, LoopConfig.quick(eval_limit=3), progress=False, log=lines.append)
    assert set(report.before) == set(report.after) == {"base", "graph"}
    candidate = report.versions.get("dpo", report.versions["sft"])  # DPO is skipped when the export has no pairs
    assert report.after["base"].target == f"base@{candidate}"
    assert report.before["base"].suite_hash == report.after["base"].suite_hash
    trained = ["train sft", "train dpo"] if "dpo" in report.versions else ["train sft"]
    assert list(report.stages) == ["load roles (before)", "eval base (before)", "eval graph (before)",
                                   "generate data", "export", *trained, "load roles (after)",
                                   "eval base (after)", "eval graph (after)"]
    versions = {v.id: v for v in list_versions(store, "base")}
    if "dpo" in report.versions:
        assert versions[report.versions["dpo"]].parent_id == report.versions["sft"]
    assert all(v.status == "candidate" for v in versions.values())
    run = get_run(store, report.datagen["run_id"])
    assert run is not None and run.kind == "datagen"
    table = before_after_table(report)
    assert "harmful_compliance" in table and "base before" in table and "graph after" in table
    text = write_loop_report(report).read_text()
    assert "## Stage times" in text and report.after["graph"].run_dir in text
    assert "(harm_vs_help.png)" in text and (report.folder / "harm_vs_help.png").stat().st_size > 0
