"""The shape of the code: recon/'s layers import only downwards, and no module imports itself through others.

The layers and what each holds are described in docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

RECON = Path(__file__).resolve().parents[1] / "recon"
#: The imports that only a deprecated name makes, inside its function, for the one release it is kept:
#: (module, the module it reaches up to). They go with the names; nothing else may be added here.
DEPRECATED_SHIMS = {("recon.geometry", "recon.operators.odl_geometry")}


def import_graph(exempt=DEPRECATED_SHIMS) -> dict[str, set[str]]:
    """Module -> the recon modules it imports anywhere in its file (module level, functions, TYPE_CHECKING).

    The ``(module, imported)`` pairs of ``exempt`` are left out.
    """
    modules = {}
    for path in RECON.rglob("*.py"):
        parts = path.relative_to(RECON.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
        graph[name] = {other for other in imported if other in modules and other != name}
    for module, other in exempt:
        graph[module].discard(other)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_exempted_import_is_still_made():
    graph = import_graph(exempt=())
    assert all(other in graph[module] for module, other in DEPRECATED_SHIMS), "remove the exemption with its shim"


def test_no_import_cycle_in_recon():
    graph = import_graph()
    assert len(graph) > 50 and "recon.operators" in graph["recon.physics"]
    assert cycles(graph) == []


#: recon's layers, lowest first: a module may import from its own package and from lower layers only
#: (docs/architecture.md). ``recon`` is the package itself (its ``__init__``).
LAYERS = (
    ("version", "deprecation", "errors", "checks", "files", "geometry"),
    ("interfaces", "operators"),
    ("physics",),
    ("metrics", "plotting", "interop"),
    ("quality",),
    ("algorithms", "data", "export"),
    ("models",),
    ("training",),
    ("benchmark",),
    ("reconstruction",),
    ("commands", "cli"),
    ("recon",),
)


def package(module: str) -> str:
    """``recon.data.hdf5`` -> ``data``; ``recon.geometry`` -> ``geometry``; ``recon`` -> ``recon``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "recon"


def test_every_import_goes_to_a_lower_layer():
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}
    graph = import_graph()
    assert {package(module) for module in graph} == set(rank), "a package is missing from LAYERS"
    upward = sorted(f"{module} -> {other}" for module, imported in graph.items() for other in imported
                    if package(module) != package(other) and rank[package(other)] >= rank[package(module)])
    assert upward == []
