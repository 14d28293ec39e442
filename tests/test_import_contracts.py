"""The package's layering holds: import-linter's contracts (pyproject.toml) are kept, and no
module of deepnets takes part in an import cycle, deferred imports inside functions included."""

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    assert "4 kept" in done.stdout  # every contract ran


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("deepnets", include_external_packages=False, cache_dir=None)


def test_no_module_of_deepnets_is_in_an_import_cycle(graph):
    # A package's __init__ importing its own children and a child importing a sibling through
    # that __init__ is not a cycle of code; leave the __init__ modules' re-exports out.
    for package in [m for m in graph.modules if graph.find_children(m)]:
        for child in graph.find_modules_directly_imported_by(package):
            if child.startswith(package + "."):
                graph.remove_import(importer=package, imported=child)
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    toy = grimp.ImportGraph()
    for module in ("a", "a.x", "a.y", "a.z"):
        toy.add_module(module)
    toy.add_import(importer="a.x", imported="a.y")
    toy.add_import(importer="a.y", imported="a.z")
    toy.add_import(importer="a.z", imported="a.x")
    assert import_cycles(toy) == [["a.x", "a.y", "a.z"]]
