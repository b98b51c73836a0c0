"""Reading base-model recipes: roles/recipes/base_<algo>.yaml plus command-line `--set` overrides.

Any field can be overridden (`--set steps=2`); an unknown key is a one-line
error naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path

from oversight.declared import apply_overrides, read_yaml, validate
from oversight.errors import ConfigError
from oversight.train.base_recipe import BaseRecipe, BaseSFTRecipe, recipe_file
from oversight.train.dpo_config import DPORecipe
from oversight.train.reward_config import RewardRecipe


def load_base_recipe(algo: str, name: str | Path, project_dir: Path, overrides: list[str] | tuple[str, ...] = ()
                     ) -> BaseRecipe:
    """Read, override and validate a base recipe; its `algo` must match the one asked for."""
    models: dict[str, type[BaseRecipe]] = {"sft": BaseSFTRecipe, "dpo": DPORecipe, "reward": RewardRecipe}
    if algo not in models:
        raise ConfigError(str(name), "algo", f"no base trainer for algorithm {algo!r}; known: {', '.join(models)}")
    path = recipe_file(name, project_dir)
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, list(overrides), path)
    data.setdefault("algo", algo)
    if data["algo"] != algo:
        raise ConfigError(path, "algo", f"recipe is for {data['algo']!r}, but --algo {algo} was asked for")
    return validate(models[algo], data, path)
