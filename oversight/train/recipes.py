"""Training recipes: roles/recipes/<role>.yaml plus command-line `key=value` overrides."""

from __future__ import annotations

from pathlib import Path

from oversight.declared import apply_overrides, read_yaml, validate
from oversight.errors import OversightError
from oversight.roles import TRAINABLE_ROLES
from oversight.train.head_config import HeadRecipe
from oversight.train.sft_config import SFTRecipe

Recipe = HeadRecipe | SFTRecipe


def recipe_path(role: str, project_dir: Path) -> Path:
    return project_dir / "roles" / "recipes" / f"{role}.yaml"


def load_recipe(role: str, project_dir: Path, overrides: list[str] | None = None) -> Recipe:
    """The role's recipe, validated; `kind: head` or `kind: sft` picks the trainer."""
    if role not in TRAINABLE_ROLES:
        raise OversightError(f"no trainer for role {role!r}; trainable roles: {', '.join(TRAINABLE_ROLES)} "
                             "(the base model learns from stored trajectories, not from a role recipe)")
    path = recipe_path(role, project_dir)
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, list(overrides), path)
    data.setdefault("role", role)
    kind = data.get("kind")
    model: type[Recipe] = SFTRecipe if kind == "sft" else HeadRecipe
    recipe = validate(model, data, path)
    if recipe.role != role:
        from oversight.errors import ConfigError

        raise ConfigError(path, "role", f"recipe file is for role {role!r}", recipe.role)
    return recipe
