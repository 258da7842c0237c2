"""The layers hold: no import circle in any package, and imports point down.

Every module of the three packages is parsed with `ast` (nothing is imported). An
import counts wherever it stands, inside a function too: a lazy import hides a
circle, it does not remove one. Only imports under `if TYPE_CHECKING:` are left out
(they never run). `importlib.import_module("phyper._x")` with a literal name counts
as an import of that module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from engines import REPO

PACKAGES = {
    "phyper": REPO / "packages" / "phyper-core" / "src" / "phyper",
    "phyper_snakemake": REPO / "packages" / "phyper-snakemake" / "src" / "phyper_snakemake",
    "phyper_doit": REPO / "packages" / "phyper-doit" / "src" / "phyper_doit",
}
ENGINES = {"snakemake", "doit", "phyper_snakemake", "phyper_doit"}

# Every module of phyper has one layer, and each layer but the ground and the top is a folder of
# phyper-core (`packages/phyper-core/src/phyper/<folder>/`); an import may point into its own layer
# or one below. The ground: errors, the version, atomic files. The state: the files phyper writes
# (their formats, locks, the store that owns every path, completion records); it knows no
# hyperparameter, and the model's manifests stand on its formats. The model: hyperparameters,
# hashes, instances, manifests, the 0.x API. Planning: steps, plans, batches, code tracking, the
# verdicts. Running: the runner and the devices. Search: the search space, trial records, the
# driver. Results: status, inventory, migrate, collect, accept, the report. Then the package's
# face and the command line.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("phyper._errors", "phyper._version", "phyper._fs")),
    ("state", ("phyper._state",)),
    ("model", ("phyper._model",)),
    ("planning", ("phyper._planning",)),
    ("running", ("phyper._running",)),
    ("search", ("phyper._search",)),
    ("results", ("phyper._results",)),
    ("api", ("phyper",)),
    ("command line", ("phyper.__main__", "phyper._cli")),
]


def in_layer(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or (root != "phyper" and module.startswith(root + ".")) for root in roots)


def modules_of(*names: str) -> set[str]:
    """The modules of phyper in the named layers."""
    graph_modules = module_files(PACKAGES["phyper"])
    return {module for module in graph_modules for name, roots in LAYERS if name in names and in_layer(module, roots)}


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package in ``root`` (``__init__`` = the package)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(nodes: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node under ``nodes``, except the bodies of ``if TYPE_CHECKING:``."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.orelse)
            continue
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _statements([child])
            else:
                yield from ast.walk(child)


def imports(module: str, path: Path, *, type_checking: bool = False) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for each import (``import a.b``: ``("a.b", [])``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = ast.walk(tree) if type_checking else _statements(tree.body)
    package_parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[str, list[str]]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package_parts[: len(package_parts) - node.level + 1] if node.level else []
            base = ".".join(parts + ([node.module] if node.module else []))
            found.append((base, [alias.name for alias in node.names]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, []))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = module_files(root)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for base, names in imports(module, path):
            # `from phyper._cli import _output` imports a module; `from phyper._cli import main`, the package
            for target in [f"{base}.{name}" if f"{base}.{name}" in modules else base for name in names] or [base]:
                if target in modules and target != module:
                    targets.add(target)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def describe(component: list[str], graph: dict[str, set[str]]) -> str:
    arrows = [f"  {a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]
    return f"circle of {len(component)} modules:\n" + "\n".join(arrows)


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_import_reader_sees_imports_inside_functions_and_skips_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg import c\n"
        "def f():\n    from pkg.b import thing\n    import importlib\n    importlib.import_module('pkg.d')\n"
    )
    (package / "b.py").write_text("from . import a\n")
    (package / "c.py").write_text("")
    (package / "d.py").write_text("")

    graph = import_graph(package)

    assert {"pkg.b", "pkg.d"} == graph["pkg.a"]
    assert [["pkg.a", "pkg.b"]] == circles(graph)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_circle(package: str) -> None:
    graph = import_graph(PACKAGES[package])

    found = circles(graph)

    print("\n\n".join(describe(component, graph) for component in found))
    assert [] == found, "\n\n".join(describe(component, graph) for component in found)


def test_core_never_imports_an_engine() -> None:
    offenders = {
        f"{module} imports {name}"
        for module, path in module_files(PACKAGES["phyper"]).items()
        for name, _ in imports(module, path, type_checking=True)
        if name.split(".")[0] in ENGINES
    }

    assert set() == offenders


def test_the_model_never_imports_the_runtime_or_the_command() -> None:
    graph = import_graph(PACKAGES["phyper"])
    present = sorted(modules_of("model"))

    reached = {module: sorted(closure(graph, module) & modules_of("planning", "running", "search", "results", "command line"))
               for module in present}

    assert "phyper._model.model" in present and "phyper._model.parser" in present
    assert {module: [] for module in present} == reached


def test_only_the_command_line_entry_imports_the_command() -> None:
    graph = import_graph(PACKAGES["phyper"])

    importers = sorted(
        module for module, targets in graph.items()
        if not module.startswith("phyper._cli") and any(t.startswith("phyper._cli") for t in targets)
    )

    assert ["phyper.__main__"] == importers


def test_each_backend_depends_on_core_and_never_on_the_other() -> None:
    imported = {
        package: {
            name.split(".")[0]
            for module, path in module_files(PACKAGES[package]).items()
            for name, _ in imports(module, path, type_checking=True)
        }
        for package in ("phyper_snakemake", "phyper_doit")
    }

    assert {"phyper"} <= imported["phyper_snakemake"] and {"phyper"} <= imported["phyper_doit"]
    assert ("phyper_doit" in imported["phyper_snakemake"], "phyper_snakemake" in imported["phyper_doit"]) == (False, False)


def layer_of(module: str) -> int:
    return next(index for index, (_, roots) in enumerate(LAYERS) if in_layer(module, roots))


def test_every_module_has_one_layer() -> None:
    graph = import_graph(PACKAGES["phyper"])

    layers = {module: [name for name, roots in LAYERS if in_layer(module, roots)] for module in graph}

    assert {module: 1 for module in graph} == {module: len(found) for module, found in layers.items()}


def test_each_layer_is_a_folder_and_no_module_lies_loose() -> None:
    root = PACKAGES["phyper"]
    folders = sorted(path.name for path in root.iterdir() if path.is_dir() and (path / "__init__.py").exists())
    loose = sorted(path.stem for path in root.glob("*.py"))

    assert ["_cli", "_model", "_planning", "_results", "_running", "_search", "_state"] == folders
    assert ["__init__", "__main__", "_errors", "_fs", "_version"] == loose


def test_imports_point_down_the_layers() -> None:
    graph = import_graph(PACKAGES["phyper"])

    upward = sorted(
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )

    assert [] == upward


def test_the_runtime_never_imports_the_tools_even_for_type_checking() -> None:
    modules = module_files(PACKAGES["phyper"])

    above = modules_of("results", "api", "command line")

    found = sorted(
        f"{module} imports {name}"
        for module in sorted(modules_of("state", "planning", "running", "search"))
        for name, _ in imports(module, modules[module], type_checking=True)
        if name in above
    )

    assert [] == found
