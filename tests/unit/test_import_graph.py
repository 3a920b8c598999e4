"""No import cycle in the shipped package, the sandbox or the infrastructure code: each
module's imports (module-level, in functions, and under TYPE_CHECKING alike) form a graph
without circles (grimp, the graph library import-linter is built on)."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[tuple[str, str]]:
    """Pairs (a, b) where a imports b and b reaches a again."""
    found = []
    for module in sorted(modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module) & modules):
            if graph.chain_exists(importer=imported, imported=module):
                found.append((module, imported))
    return found


@pytest.mark.parametrize("package", ["frontguard", "sandbox", "infra"])
def test_no_import_cycle(package: str) -> None:
    for path in (ROOT / "lambdas", ROOT):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    graph = grimp.build_graph(package, cache_dir=None)
    modules = {m for m in graph.modules if m == package or m.startswith(f"{package}.")}
    assert _cycles(graph, modules) == []
