"""The rules between packages, read from every import with `ast`.

No package imports itself in a circle: a circle makes a module that cannot be
read (or imported) without the one that imports it, so each package's modules
must stand in layers. The one exception is the registration idiom: importing
`vision.backends` registers the built-in detector backends, and each of them
imports the registry it registers with. And `vision` and `anchors` stand alone:
neither imports the other or the service; `registry` imports none of them, and
the test harness is imported by tests and benchmarks only. Every module says in
its docstring what it owns.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("anchors", "spatial", "vision", "registry", "harness", "bench")
REGISTRATION_PACKAGES = {"vision.backends"}
"""Packages imported for what importing them registers; the edges into them are not counted."""


def module_files() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name (a package by its own name)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(path: Path, name: str) -> Iterator[str]:
    """The dotted names a module imports (`from a import b` gives `a.b`: module b, or name b of a), wherever they stand."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (the nearest module of each imported name)."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(path, name):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported not in REGISTRATION_PACKAGES:
                targets.add(imported)
        graph[name] = targets
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of more than one module that each import all the others, directly or not."""
    reach = {node: reachable(graph, node) for node in graph}
    groups = {tuple(sorted({node} | {other for other in reach[node] if node in reach.get(other, ())}))
              for node in graph}
    return sorted(list(group) for group in groups if len(group) > 1)


def test_no_package_imports_itself_in_a_circle() -> None:
    graph = import_graph()
    loops = circles(graph)
    described = [" <-> ".join(loop) + ": " + "; ".join(
        f"{a} -> {b}" for a in loop for b in sorted(graph[a] & set(loop))) for loop in loops]
    assert not loops, "import circles:\n" + "\n".join(described)


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
])
def test_the_circle_finder_finds_loops_and_only_loops(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert circles(edges) == expected


def test_the_import_reader_sees_relative_late_and_from_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom . import sibling\nfrom .inner import thing\ndef f():\n    from x.y import z\n")
    assert set(imported_names(module, "pkg.m")) == {
        "os", "pkg.sibling", "pkg.inner.thing", "x.y.z"}


@pytest.mark.parametrize("package, forbidden", [
    ("vision", ("anchors", "spatial", "harness")),
    ("anchors", ("vision", "spatial", "harness")),
    ("spatial", ("harness",)),
    ("registry", ("vision", "anchors", "spatial", "harness")),
])
def test_each_package_imports_only_what_it_may(package: str, forbidden: tuple[str, ...]) -> None:
    crossing = sorted(f"{name} -> {target}" for name, path in module_files().items() if name.split(".")[0] == package
                      for target in imported_names(path, name) if target.split(".")[0] in forbidden)
    assert not crossing, f"{package}/ imports what it may not: {crossing}"


def test_every_module_says_what_it_owns() -> None:
    silent = [str(path.relative_to(ROOT)) for path in module_files().values()
              if not (ast.get_docstring(ast.parse(path.read_text())) or "").strip()]
    assert not silent, f"modules without a docstring: {silent}"
