"""Reading declared YAML files into pydantic models with one-line errors.

Every file under constitutions/, roles/ and graphs/ goes through `load_model`,
so a typo anywhere reads the same way: file, key path, what was wrong, what was
received.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from oversight.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping, naming the file and line on a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, where, f"malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", "expected a mapping at the top level", data)
    return data


def key_path(loc: tuple[Any, ...], data: Any = None) -> str:
    """Turn a pydantic location into `principles[3].id` style, using ids where known."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = str(item)
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id")
                if isinstance(ident, str) and ident.isprintable() and len(ident) <= 60:
                    label = f"{item}:{ident}"
            parts.append(f"[{label}]")
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


def validate(model: type[M], data: dict[str, Any], path: Path | str, prefix: str = "") -> M:
    """Validate `data` as `model`; the first problem becomes a ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = key_path(tuple(err["loc"]), data)
        if prefix:
            key = f"{prefix}.{key}" if key else prefix
        kind = err["type"]
        if kind == "extra_forbidden":
            raise ConfigError(path, key, "unknown key") from None
        if kind == "missing":
            raise ConfigError(path, key, "missing required field") from None
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(path, key, msg, err.get("input", ...)) from None


def load_model(model: type[M], path: Path) -> M:
    return validate(model, read_yaml(path), path)


def looks_like_path(name_or_path: str | Path) -> bool:
    """A path object, or text with a slash or a .yaml/.yml ending; anything else is a shipped name."""
    if isinstance(name_or_path, Path):
        return True
    text = str(name_or_path)
    return "/" in text or os.sep in text or text.endswith((".yaml", ".yml"))


def resolve_declared(kind: str, name_or_path: str | Path, project_dir: Path) -> Path:
    """Find `constitutions/NAME.yaml` (or roles/, graphs/) or accept something that looks like a path.

    A bare name always means the shipped file, so a file or folder of that name in the
    working directory never shadows it by accident; write ./NAME to mean a local file.
    """
    if looks_like_path(name_or_path):
        candidate = Path(name_or_path).expanduser()
        if candidate.is_dir():
            raise ConfigError(candidate, "", f"is a folder, not a {kind[:-1]} file")
        if not candidate.is_file():
            raise ConfigError(candidate, "", "file not found")
        return candidate
    name = str(name_or_path)
    path = project_dir / kind / f"{name}.yaml"
    if not name or not path.is_file():
        shipped = sorted(p.stem for p in (project_dir / kind).glob("*.yaml"))
        hint = f" (for a file in this folder write ./{name})" if name and Path(name).exists() else ""
        raise ConfigError(path, "", f"no {kind[:-1]} named {name!r}; "
                          f"shipped: {', '.join(shipped) or 'none'}{hint}")
    return path


def apply_overrides(data: dict[str, Any], overrides: list[str], path: Path | str) -> dict[str, Any]:
    """Apply command-line `dotted.key=value` overrides (values parsed as YAML) to raw data."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(path, "", "override must look like key.path=value", item)
        node: Any = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict):
                raise ConfigError(path, key, "cannot set a key inside a non-mapping", node)
            node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(path, key, "cannot set a key inside a non-mapping", node)
        try:
            node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            node[parts[-1]] = value
    return data
