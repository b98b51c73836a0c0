"""Property-based: every broken declaration gets exit status 2 and one line naming the file and the key.

Hypothesis (fixed seed, bounded examples) breaks copies of the shipped constitution, roles file and graph spec
(wrong types, missing and unknown keys, references to things that do not exist, odd Unicode, huge values) and
writes `--set` overrides, then calls the command's entry point in-process. Nothing gets as far as loading a
model: a broken declaration must be refused while reading.
"""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from oversight.cli.main import main
from oversight.settings import PROJECT_DIR

SHIPPED = {
    "constitution": yaml.safe_load((PROJECT_DIR / "constitutions" / "default.yaml").read_text(encoding="utf-8")),
    "roles": yaml.safe_load((PROJECT_DIR / "roles" / "default.yaml").read_text(encoding="utf-8")),
    "graph": yaml.safe_load((PROJECT_DIR / "graphs" / "default.yaml").read_text(encoding="utf-8")),
}
# Keys whose mapping accepts any key (templates by name), so an extra key there is not an error.
OPEN_MAPPINGS = ("prompts",)
# Keys every file must have (removing one must be refused).
REQUIRED = {
    "constitution": [("version",), *[("principles", i, k) for i in range(3)
                                     for k in ("category", "text", "critique_request", "revision_request",
                                               "priority", "weight")]],
    "roles": [("models",), ("roles",), ("models", "smollm2", "source"), *[("roles", r, "model") for r in
                                                                          ("base", "critic", "judge", "safety",
                                                                           "reviser")]],
    "graph": [],
}
ODD_TEXT = ["\u202e", "\U0001f600", "\u0000", "ünïcödé", "\ufeff", "a\nb", "\u2028", "𝔘𝔫𝔦"]
# Values no field accepts in place of a scalar or a list or a mapping.
ALIEN_FOR_SCALAR = [{"nested": [1, 2]}, [[["deep"]]], {"ünï": None}]
ALIEN_FOR_CONTAINER = [12345678901234567890123, 3.5, True, "\u202etext", 10 ** 400]
HUGE = [10 ** 30, -(10 ** 30), 1e308, float("inf"), float("nan"), 10 ** 400]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def _numeric(path: tuple[Any, ...], kind: str) -> bool:
    value = _get(SHIPPED[kind], path)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@st.composite
def broken(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """(which file, its broken content, a key the error must name)."""
    kind = draw(st.sampled_from(sorted(SHIPPED)))
    data = copy.deepcopy(SHIPPED[kind])
    paths = [p for p in _paths(data) if not any(part in OPEN_MAPPINGS for part in p[:-1])
             and not (kind == "graph" and p[0] in ("description",))
             and not (kind == "constitution" and p[0] in ("description", "name"))]
    how = draw(st.sampled_from(["wrong_type", "unknown_key", "missing", "huge", "odd_unicode", "reference"]))
    if how == "missing" and REQUIRED[kind]:
        path = draw(st.sampled_from(REQUIRED[kind]))
        del _get(data, path[:-1])[path[-1]]
        return kind, data, str(path[-1]) if not isinstance(path[-1], int) else str(path[-2])
    if how == "unknown_key":
        mappings = [p for p in paths if isinstance(_get(data, p), dict) and p[-1] not in OPEN_MAPPINGS]
        path = draw(st.sampled_from([(), *mappings]))
        key = draw(st.sampled_from(["colour", "ünknown", "\U0001f600", "max_new_token", "rounds_", "x" * 300]))
        _get(data, path)[key] = draw(st.sampled_from([1, "v", None, [1]]))
        return kind, data, key[:40]
    if how == "huge":
        numbers = [p for p in paths if _numeric(p, kind)]
        if numbers:
            path = draw(st.sampled_from(numbers))
            _set(data, path, draw(st.sampled_from(HUGE)))
            return kind, data, next(str(p) for p in reversed(path) if not isinstance(p, int))
    if how == "odd_unicode" and kind == "constitution":
        index = draw(st.integers(0, len(data["principles"]) - 1))
        data["principles"][index]["id"] = draw(st.sampled_from(ODD_TEXT))
        return kind, data, "id"
    if how == "odd_unicode" and kind == "roles":
        role = draw(st.sampled_from(["base", "critic", "judge", "safety", "reviser"]))
        data["roles"][role]["model"] = draw(st.sampled_from(ODD_TEXT))
        return kind, data, "model"
    if how == "reference":
        choice = draw(st.sampled_from({
            "constitution": [("extends", "no-such-constitution"), ("principles", 0, "category", "weather")],
            "roles": [("roles", "judge", "model", "gpt-9"), ("roles", "safety", "head", "missing/head.json"),
                      ("models", "smollm2", "source", "embedded:no-such-model"),
                      ("roles", "critic", "adapter", "no/such/adapter")],
            "graph": [("critic", "principles", ["no-such-principle"]), ("escalation", "always_human", ["weather"]),
                      ("judge", "include", ["nobody"]), ("nodes", ["base", "teleport"]),
                      ("constitution", "no-such-constitution"), ("roles", "no-such-roles")],
        }[kind]))
        *path, value = choice
        _set(data, tuple(path), value)
        return kind, data, str(path[-1])
    scalar_paths = [p for p in paths if not isinstance(_get(data, p), (dict, list))]
    container_paths = [p for p in paths if isinstance(_get(data, p), (dict, list))]
    path = draw(st.sampled_from(scalar_paths + container_paths))
    alien = ALIEN_FOR_CONTAINER if path in container_paths else ALIEN_FOR_SCALAR
    _set(data, path, draw(st.sampled_from(alien)))
    label = next((str(p) for p in reversed(path) if not isinstance(p, int)), "")
    return kind, data, label


def _write(folder: Path, kind: str, data: dict[str, Any] | None) -> Path:
    path = folder / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(data if data is not None else SHIPPED[kind], allow_unicode=True),
                    encoding="utf-8")
    return path


def _files(tmp_path: Path, kind: str | None = None, data: dict[str, Any] | None = None) -> dict[str, Path]:
    folder = tmp_path / uuid.uuid4().hex[:8]
    folder.mkdir()
    files = {k: _write(folder, k, data if k == kind else None) for k in SHIPPED}
    graph = yaml.safe_load(files["graph"].read_text(encoding="utf-8"))
    if kind != "graph" or graph.get("constitution") == SHIPPED["graph"]["constitution"]:
        graph["constitution"] = str(files["constitution"])
    if kind != "graph" or graph.get("roles") == SHIPPED["graph"]["roles"]:
        graph["roles"] = str(files["roles"])
    files["graph"].write_text(yaml.safe_dump(graph, allow_unicode=True), encoding="utf-8")
    return files


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from oversight.train import bootstrap

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("a broken declaration got as far as loading models")

    monkeypatch.setattr(bootstrap, "build_roles", refuse)


def _assert_one_line_error(capsys: pytest.CaptureFixture[str], code: int, file: Path, key: str) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert file.name in lines[0], (file, err)
    assert key in lines[0], (key, err)


def _graph(files: dict[str, Path], *extra: str) -> int:
    return main(["graph", "--spec", str(files["graph"]), "--prompt", "hi", *extra])


@seed(20261129)
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=broken())
def test_broken_declarations_fail_in_one_line(case: tuple[str, dict[str, Any], str], tmp_path: Path,
                                             no_models: None, capsys: pytest.CaptureFixture[str]) -> None:
    kind, data, key = case
    files = _files(tmp_path, kind, data)
    code = _graph(files)
    if kind == "graph" and str(data.get(key, "")).startswith("no-such"):
        # a referenced file that does not exist is named by the path it was looked for at
        _assert_one_line_error(capsys, code, Path(f"{data[key]}.yaml"), "no " + key.removesuffix("s"))
    else:
        _assert_one_line_error(capsys, code, files[kind], key)


OVERRIDE_KEYS = ["roles.base.generation.max_new_tokens", "models.smollm2.dtype", "roles.judge", "models",
                 "roles.base.model.deeper", "roles.critic.features.layers", "roles.nobody.model",
                 "roles.safety.features.encoder", "name.sub", "models.smollm2.max_context", "roles.base.generation"]
OVERRIDE_VALUES = ["abc", "[1, 2", "{a: 1}", "-5", "1e400", "10000000000000000000000", "null", "\U0001f600",
                   "'\u202e'", "[]", "{}", ".nan", "yes"]


@seed(20261129)
@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(key=st.sampled_from(OVERRIDE_KEYS), value=st.sampled_from(OVERRIDE_VALUES))
def test_broken_overrides_fail_in_one_line(key: str, value: str, tmp_path: Path, no_models: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Any override either is valid (the command goes on to load models) or is refused in one line; never a
    traceback. Some of these pairs are valid (e.g. max_context=10000000000000000000000 is not, -5 layers is)."""
    files = _files(tmp_path)
    try:
        code = _graph(files, "--set", f"{key}={value}")
    except AssertionError as reached:
        assert "got as far as loading models" in str(reached)
        return
    err = capsys.readouterr().err
    assert code == 2, f"--set {key}={value}: exit {code}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "roles.yaml" in lines[0], err
    assert key.split(".")[0] in lines[0] or "override" in lines[0], err


@pytest.mark.parametrize("override", [
    "roles.base.generation.max_new_tokens=abc", "models.smollm2.dtype=float8", "roles.judge=[1, 2",
    "models=[]", "roles.base.model.deeper=1", "roles.critic.features.layers=[]", "roles.nobody.model=smollm2",
    "models.smollm2.max_context=1e400", "roles.base.generation={}x", "roles.safety.features.layers=[99999]",
    "roles.base.generation.temperature=.nan", "roles.base.system_prompt={a: 1}", "name.sub=1"])
def test_broken_overrides_exit_2(override: str, tmp_path: Path, no_models: None,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code = _graph(_files(tmp_path), "--set", override)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and "roles.yaml" in err, err
    assert override.split("=")[0].split(".")[-1] in err or "override" in err, err


@pytest.mark.parametrize("item", ["", "=1", "noequals", "a..b=1", ".=2", "roles.=3"])
def test_malformed_override_syntax(item: str, tmp_path: Path, no_models: None,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = _graph(_files(tmp_path), "--set", item)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "roles.yaml" in err, err
