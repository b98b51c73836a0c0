"""The house rules of ../shared/DESIGN.md, read from the source: no import cycles, no import up the layers.

Every module under oversight/ is parsed with `ast`; imports inside functions
count (they run too), imports under `if TYPE_CHECKING:` count for the layers
but not for cycles (they never run). Layers are assigned by rule, not by a list
of today's files, so modules other helpers add are checked as they appear:

    face      cli/, run.py, langgraph_app.py, __main__.py
    jobs      graph/ review/ train/ eval/  (sideways only: review->graph, train->eval,
              eval->graph, train->graph)
    engines   runtime/ store/              (never each other)
    ground    every other top-level module (constitution, roles, declared, settings, errors, verdicts...)

A new sub-package fails the test until it is given a layer here (and in DESIGN.md).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "oversight"
RANK = {"ground": 0, "engines": 1, "jobs": 2, "face": 3}
PACKAGE_LAYERS = {"runtime": "engines", "store": "engines", "graph": "jobs", "review": "jobs",
                  "train": "jobs", "eval": "jobs", "cli": "face"}
TOP_LEVEL_FACES = {"run", "langgraph_app", "__main__"}
# Imports within one layer between different packages: only these (importer, imported).
SIDEWAYS = {("review", "graph"), ("train", "eval"), ("eval", "graph"), ("train", "graph")}
# What the store must not know, by top-level distribution name (DESIGN.md: never LangGraph, torch or the web).
STORE_MUST_NOT_IMPORT = {"langgraph", "torch", "transformers", "peft", "fastapi", "starlette", "jinja2"}
# Imports by computed name: (importing module, the constant prefix of the name). Each one is deliberate.
DYNAMIC_IMPORTS_ALLOWED = {("oversight.cli.main", "oversight.cli.")}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: list[tuple[str, int, bool]] = field(default_factory=list)
    """(imported oversight module, line, only under TYPE_CHECKING)."""
    external: set[str] = field(default_factory=set)
    dynamic: list[tuple[str, int]] = field(default_factory=list)
    """importlib.import_module / __import__ calls whose name is not a constant: (prefix, line)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(name: str) -> tuple[str, str]:
    """(layer, package) of a module: package is the sub-package, or the module for top-level ones."""
    parts = name.split(".")
    if len(parts) == 1:
        return "ground", "oversight"
    top = parts[1]
    if (PACKAGE / top).is_dir():
        assert top in PACKAGE_LAYERS, (f"oversight/{top}/ has no layer: give it one in tests/test_layers.py "
                                       "and ../shared/DESIGN.md")
        return PACKAGE_LAYERS[top], top
    return ("face" if top in TOP_LEVEL_FACES else "ground"), top


def _resolve(target: str, known: set[str]) -> str | None:
    while target and target not in known:
        target = target.rsplit(".", 1)[0] if "." in target else ""
    return target or None


def read_package() -> dict[str, Module]:
    modules = {module_name(p): Module(module_name(p), p, ast.parse(p.read_text(encoding="utf-8"), str(p)))
               for p in sorted(PACKAGE.rglob("*.py"))}
    known = set(modules)
    for mod in modules.values():
        package = mod.name if mod.path.name == "__init__.py" else mod.name.rsplit(".", 1)[0]
        typing_only = {id(n) for node in ast.walk(mod.tree)
                       if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                       for stmt in node.body for n in ast.walk(stmt)}
        for node in ast.walk(mod.tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] or [base]
            elif isinstance(node, ast.Call) and _is_dynamic_import(node):
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    targets = [arg.value]
                else:
                    prefix = ""
                    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                        prefix = str(arg.values[0].value)
                    mod.dynamic.append((prefix, node.lineno))
            for target in targets:
                if target == "oversight" or target.startswith("oversight."):
                    resolved = _resolve(target, known)
                    if resolved and resolved != mod.name:
                        mod.imports.append((resolved, node.lineno, id(node) in typing_only))
                else:
                    mod.external.add(target.split(".")[0])
    return modules


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in {"import_module", "__import__"}


MODULES = read_package()


def test_every_file_was_read() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) == len(MODULES) > 50
    assert {m.path for m in MODULES.values()} == set(files)
    assert sum(len(m.imports) for m in MODULES.values()) > 200  # the reader found the imports


def test_no_import_cycles() -> None:
    graph = {name: sorted({t for t, _, typing in mod.imports if not typing}) for name, mod in MODULES.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles (imports inside functions count):\n" + "\n".join(
        " -> ".join(c) for c in cycles)


def test_imports_respect_the_layers() -> None:
    wrong = []
    for name, mod in MODULES.items():
        layer, package = layer_of(name)
        for target, line, _ in mod.imports:
            t_layer, t_package = layer_of(target)
            if RANK[t_layer] > RANK[layer]:
                wrong.append(f"{mod.path.relative_to(PACKAGE.parent)}:{line}: {layer} imports {t_layer} ({target})")
            elif (RANK[t_layer] == RANK[layer] and layer in ("engines", "jobs") and t_package != package
                  and (package, t_package) not in SIDEWAYS):
                wrong.append(f"{mod.path.relative_to(PACKAGE.parent)}:{line}: {package}/ may not import "
                             f"{t_package}/ ({target})")
    assert not wrong, "imports up or across the layers of DESIGN.md:\n" + "\n".join(wrong)


def test_store_knows_no_langgraph_torch_or_web() -> None:
    wrong = {name: sorted(mod.external & STORE_MUST_NOT_IMPORT) for name, mod in MODULES.items()
             if layer_of(name)[1] == "store" and mod.external & STORE_MUST_NOT_IMPORT}
    assert not wrong, f"store modules importing what the store must not know: {wrong}"


def test_no_import_by_computed_name_hides_an_edge() -> None:
    found = {(name, prefix) for name, mod in MODULES.items() for prefix, _ in mod.dynamic}
    hidden = {f"{name}: import_module({prefix or '?'}...)" for name, prefix in found
              if (name, prefix) not in DYNAMIC_IMPORTS_ALLOWED}
    assert not hidden, f"imports by computed name (the tests cannot see their edges): {sorted(hidden)}"
    for name, prefix in DYNAMIC_IMPORTS_ALLOWED:
        assert (name, prefix) in found, f"{name} no longer imports {prefix}*: drop it from the allowed list"
        for target in MODULES:  # every module the name could reach must be allowed to the importer
            if target.startswith(prefix):
                assert RANK[layer_of(target)[0]] <= RANK[layer_of(name)[0]]


def test_the_reader_sees_what_it_must() -> None:
    """The rules above catch each kind of violation on small sources (the checks are not vacuous)."""
    assert layer_of("oversight.errors") == ("ground", "errors")
    assert layer_of("oversight.langgraph_app") == ("face", "langgraph_app")
    assert layer_of("oversight.graph.build") == ("jobs", "graph")
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c", "a"]]
    assert not _cycles({"a": ["b"], "b": [], "c": ["a", "b"]})
    main = MODULES["oversight.cli.main"]
    assert ("oversight.cli.", main.dynamic[0][1]) in {(p, ln) for p, ln in main.dynamic}
    inner = [t for t, line, _ in MODULES["oversight.cli.graph"].imports if t == "oversight.graph.build"]
    assert inner, "imports inside functions are read"


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(_walk_cycle(graph, set(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _walk_cycle(graph: dict[str, list[str]], component: set[str]) -> list[str]:
    """The shortest cycle through the component's first module (breadth-first, inside the component)."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph.get(node, [])):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt in component and nxt not in came_from:
                    came_from[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"no cycle through {start}")
