"""The package's modules import each other in one direction: no import cycle, at any depth.

An import inside a function counts too: it hides a cycle from Python's import machinery, not from
a reader, who still has to hold both modules in mind at once.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lesson_batch"


def module_name(path: Path) -> str:
    """``ledger/lessons.py`` -> ``ledger.lessons``; a package's ``__init__.py`` is the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """What ``path`` imports from the package, wherever the import stands, as dotted names
    relative to the package (a module, a package, or a module's name: the graph keeps modules)."""
    name = module_name(path) if path.is_relative_to(PACKAGE) else path.stem
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("lesson_batch."):
                target = node.module.removeprefix("lesson_batch.")
            else:
                continue
            if target:
                found.add(target)
            found.update(f"{target}.{alias.name}".strip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("lesson_batch.") for alias in node.names
                         if alias.name.startswith("lesson_batch."))
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of the package (subpackages included) and the modules it imports. Importing
    ``ledger.lessons`` runs ``ledger/__init__.py`` first, so a package counts as imported too."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py") if module_name(path)}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for target in imports_of(path):
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                ancestor = ".".join(parts[:depth])
                inside = name == ancestor or name.startswith(ancestor + ".")
                if ancestor in modules and (depth == len(parts) or not inside):
                    edges.add(ancestor)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        trail.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return trail[trail.index(imported):] + [imported]
            if imported not in state:
                cycle = visit(imported)
                if cycle:
                    return cycle
        state[module] = "done"
        trail.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_subpackage_s_modules_are_in_the_graph():
    graph = import_graph()
    assert "ledger.lessons" in graph["ledger"]
    assert "wording" in graph["text.status"] and "text.processing" in graph["text.events"]


def test_an_import_inside_a_function_counts(tmp_path):
    module = tmp_path / "a.py"
    module.write_text("def f():\n    from .b import g\n    return g\n", encoding="utf-8")
    assert "b" in imports_of(module)
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
