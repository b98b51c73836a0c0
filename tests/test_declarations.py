"""Every shipped YAML loads; every kind of bad declaration gives one readable line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oversight.cli.main import main
from oversight.constitution import load_constitution
from oversight.errors import ConfigError
from oversight.roles import ROLE_NAMES, load_roles
from oversight.settings import PROJECT_DIR

DEFAULT_CONSTITUTION = (PROJECT_DIR / "constitutions" / "default.yaml").read_text()
DEFAULT_ROLES = (PROJECT_DIR / "roles" / "default.yaml").read_text()


@pytest.mark.parametrize("path", sorted((PROJECT_DIR / "constitutions").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_constitutions_load(path: Path) -> None:
    c = load_constitution(path, PROJECT_DIR)
    assert c.principles and len(c.content_hash) == 16


def test_default_constitution_covers_the_seed_principles() -> None:
    c = load_constitution("default", PROJECT_DIR)
    assert {p.category for p in c.principles} >= {
        "safety", "privacy", "honesty", "fairness", "compliance", "manipulation", "reliability", "helpfulness"}


def test_variant_extends_and_overrides() -> None:
    base = load_constitution("default", PROJECT_DIR)
    strict = load_constitution("strict", PROJECT_DIR)
    assert strict.principle("privacy").priority == 1 and base.principle("privacy").priority == 2
    assert strict.principle("privacy").text == base.principle("privacy").text  # inherited field
    assert "professional-advice" in {p.id for p in strict.principles}
    assert strict.content_hash != base.content_hash


def test_hash_ignores_comments_but_not_rules(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    a.write_text("# a comment\n" + DEFAULT_CONSTITUTION)
    b = tmp_path / "b.yaml"
    b.write_text(DEFAULT_CONSTITUTION.replace("weight: 3.0", "weight: 2.5"))
    h = load_constitution("default", PROJECT_DIR).content_hash
    assert load_constitution(a, PROJECT_DIR).model_copy(update={"name": "default"}).content_hash == h
    assert load_constitution(b, PROJECT_DIR).model_copy(update={"name": "default"}).content_hash != h


@pytest.mark.parametrize("path", sorted((PROJECT_DIR / "roles").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_roles_load(path: Path) -> None:
    roles = load_roles(path, PROJECT_DIR)
    assert set(roles.roles) == set(ROLE_NAMES)


@pytest.mark.parametrize("path", sorted((PROJECT_DIR / "graphs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_graph_specs_load(path: Path) -> None:
    from oversight.graph.spec import load_spec

    spec = load_spec(path, PROJECT_DIR)
    assert spec.nodes and spec.name == path.stem


@pytest.mark.parametrize("path", sorted((PROJECT_DIR / "roles" / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_training_recipes_load(path: Path) -> None:
    """Every shipped recipe validates with the loader its name says: role, base_<algo>, base_ppo or retrain."""
    from oversight.train.base_recipes import load_base_recipe
    from oversight.train.ppo_config import load_ppo_recipe
    from oversight.train.recipes import load_recipe
    from oversight.train.retrain_config import load_retrain_config

    name = path.stem
    if name == "retrain":
        assert load_retrain_config(name, PROJECT_DIR) is not None
    elif name == "base_ppo":
        assert load_ppo_recipe(name, PROJECT_DIR) is not None
    elif name.startswith("base_"):
        assert load_base_recipe(name.removeprefix("base_"), name, PROJECT_DIR) is not None
    else:
        assert load_recipe(name, PROJECT_DIR).role == name


def test_role_override_from_command_line() -> None:
    roles = load_roles("default", PROJECT_DIR, ["roles.base.generation.max_new_tokens=12", "roles.judge.head=null"])
    assert roles.roles["base"].generation.max_new_tokens == 12
    assert roles.roles["judge"].head is None


def _constitution(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


BAD_CONSTITUTIONS = {
    "malformed-yaml": (DEFAULT_CONSTITUTION.replace("principles:", "principles: [", 1), "malformed YAML"),
    "unknown-key": (DEFAULT_CONSTITUTION.replace("    weight: 3.0", "    weight: 3.0\n    wieght: 2", 1),
                    "principles[0:harmful-instructions].wieght: unknown key"),
    "missing-field": (DEFAULT_CONSTITUTION.replace(
        "    critique_request: Identify whether the response exposes", "    notes_x: Identify", 1),
        "principles[1:privacy].critique_request: missing required field"),
    "missing-text": (DEFAULT_CONSTITUTION.replace(
        "    text: Respect privacy; do not reveal, collect or help infer personal data about private individuals.\n",
        "", 1), "principles[1:privacy].text: missing required field"),
    "duplicate-id": (DEFAULT_CONSTITUTION.replace("id: lawful", "id: privacy"),
                     "principles[2:privacy].id: principle id is used twice (received 'privacy')"),
    "bad-category": (DEFAULT_CONSTITUTION.replace("category: honesty", "category: vibes"),
                     "category 'vibes' is not one of"),
    "bad-priority": (DEFAULT_CONSTITUTION.replace("priority: 1\n", "priority: zero\n", 1),
                     "principles[0:harmful-instructions].priority"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONSTITUTIONS))
def test_bad_constitution_is_one_line_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BAD_CONSTITUTIONS[case]
    path = _constitution(tmp_path, text)
    assert main(["constitution", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def _roles(tmp_path: Path, text: str) -> str:
    path = tmp_path / "roles.yaml"
    path.write_text(text)
    return str(path)


def test_role_naming_a_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _roles(tmp_path, DEFAULT_ROLES.replace("embedded:smollm2-135m-instruct", "nobody/no-such-model-xyz"))
    assert main(["models", "list", "--roles", path]) == 2
    err = capsys.readouterr().err
    assert f"{path}: models.smollm2.source: model not found" in err and "'nobody/no-such-model-xyz'" in err


def test_role_naming_an_undeclared_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _roles(tmp_path, DEFAULT_ROLES.replace("  judge:\n    model: smollm2", "  judge:\n    model: gpt9"))
    assert main(["models", "list", "--roles", path]) == 2
    assert "roles.judge.model names 'gpt9'" in capsys.readouterr().err


def test_roles_unknown_key_and_missing_role(tmp_path: Path) -> None:
    path = _roles(tmp_path, DEFAULT_ROLES.replace("    adapter: ", "    adaptor: ", 1))  # the base role's
    with pytest.raises(ConfigError, match=r"roles\.base\.adaptor: unknown key"):
        load_roles(path, PROJECT_DIR)
    head, _, _ = DEFAULT_ROLES.partition("  reviser:")
    with pytest.raises(ConfigError, match="roles missing: reviser"):
        load_roles(_roles(tmp_path, head), PROJECT_DIR)


def test_adapter_for_another_base_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "meta-llama/Llama-3.1-8B"}))
    path = _roles(tmp_path, DEFAULT_ROLES)
    assert main(["models", "list", "--roles", path, "--set", f"roles.reviser.adapter={adapter}"]) == 2
    err = capsys.readouterr().err
    assert "roles.reviser.adapter: adapter was trained on 'meta-llama/Llama-3.1-8B'" in err
    assert "HuggingFaceTB/SmolLM2-135M-Instruct" in err and str(adapter) in err


def test_adapter_folder_that_is_not_an_adapter(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a LoRA adapter folder"):
        load_roles("default", PROJECT_DIR, [f"roles.critic.adapter={tmp_path}"])


def test_unknown_shipped_name_lists_what_exists(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["constitution", "nonesuch"]) == 2
    assert "no constitution named 'nonesuch'; shipped: default, strict" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = _constitution(tmp_path, "version: 1\nprinciples: []\n")
    with pytest.raises(ConfigError, match="at least one principle"):
        main(["--debug", "constitution", path])
