"""The engine's house rules (ARCHITECTURE.md, "syncengine/ as it grows"), read from the
imports of its modules: who may import whom, and no circle."""

from __future__ import annotations

import ast
from pathlib import Path

from lightningsync.models import LightningSyncSetup
from syncengine.transports import connect

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "syncengine"
# Above the cycle: they run cycles (django-q2, signals, the command).
TOP = ("syncengine.tasks", "syncengine.signals", "syncengine.apps", "syncengine.management")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module `name` imports, anywhere in it (function-level imports too); for
    `from package import module`, the module."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _violations(rule: str, graph: dict[str, set[str]], which: tuple[str, ...],
                refused: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{rule}: {module} imports {target}"
        for module, targets in sorted(graph.items()) if _under(module, *which)
        for target in sorted(targets)
        if _under(target, *refused) and not _under(target, *allowed)
    ]


def test_transports_import_no_model_and_nothing_above_them() -> None:
    graph = _graph()
    assert _violations(
        "transports read no model", graph, ("syncengine.transports",),
        ("lightningsync.models", "django.db", "django.contrib"),
    ) + _violations(
        "transports know nothing above them", graph, ("syncengine.transports",),
        ("syncengine",), allowed=("syncengine.transports",),
    ) == []


def test_planners_see_only_the_transport_protocol() -> None:
    graph = _graph()
    assert _violations(
        "planners see the protocol only", graph, ("syncengine.contacts", "syncengine.events"),
        ("syncengine.transports",), allowed=("syncengine.transports.protocol",),
    ) + _violations(
        "planners do not know each other", graph, ("syncengine.contacts",),
        ("syncengine.events",),
    ) + _violations(
        "planners do not know each other", graph, ("syncengine.events",),
        ("syncengine.contacts",),
    ) == []


def test_mapping_and_the_error_log_are_ground_floor() -> None:
    graph = _graph()
    assert _violations(
        "mapping is pure", graph, ("syncengine.mapping",), ("syncengine",),
        allowed=("syncengine.mapping", "syncengine.transports.protocol"),
    ) + _violations(
        "the error log is the ground floor", graph, ("syncengine.errorlog",), ("syncengine",),
    ) == []


def test_nothing_below_the_cycle_imports_it() -> None:
    graph = _graph()
    below = tuple(m for m in graph if not _under(m, "syncengine.cycle", *TOP)
                  and m != PACKAGE)
    assert _violations("the cycle is the top", graph, below, ("syncengine.cycle", *TOP)) == []


def test_no_module_imports_itself_through_others() -> None:
    known = set(_modules())
    graph = {m: {t for t in targets if t in known and t != m} for m, targets in _graph().items()}
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append([*path[path.index(module):], module])
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert circles == []


def test_the_rules_see_the_imports_they_judge() -> None:
    graph = _graph()
    # A relative import, a `from package import module`, a function-level import.
    assert "syncengine.transports.protocol" in graph["syncengine.transports.memory"]
    assert "syncengine.cycle.claims" in graph["syncengine.cycle.runner"]
    assert "syncengine.signals" in graph["syncengine.apps"]
    assert "syncengine.transports.protocol" in graph["syncengine.contacts.sync"]


def test_the_registry_knows_setups_connection_methods() -> None:
    assert set(connect.BUILTIN_BACKENDS) == set(LightningSyncSetup.ConnectionMethod.values)
