"""The layers of ``app/`` point one way, and no module imports itself in a circle.

``api`` and ``cli`` -> ``services`` -> ``schemas`` -> ``models`` -> ``core``:
``core`` is the framework floor and imports nothing above it; ``app.features``
and the factory wire the layers together. Every import statement counts, at
module level, inside a function or under ``TYPE_CHECKING``: an import inside a
function only postpones a cycle until the function runs.
"""

from __future__ import annotations

import ast
import functools
import graphlib
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
#: The layers from the floor up, each with what it may import of the application:
#: itself and the layers below it (and ``app.version``). Anything else is above it.
LAYERS = ("app.core", "app.models", "app.schemas", "app.services")
ALLOWED = {layer: ("app.version", *LAYERS[: LAYERS.index(layer) + 1]) for layer in LAYERS}
#: Where the layers are wired together: only the factory imports it.
FEATURES = "app.features"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(APP.rglob("*.py"))}


def imported(name: str, tree: ast.Module) -> set[str]:
    """Every module that module ``name`` imports, anywhere in its code (the
    application's by their full name, any other by its top-level package)."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # ``from package import module`` imports the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        found.update(
            target if target in MODULES else target.partition(".")[0] for target in targets
        )
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    """Each application module and the application modules it imports."""
    return {name: targets & MODULES.keys() for name, targets in all_imports().items()}


@functools.cache
def all_imports() -> dict[str, set[str]]:
    """Every module's imports, as :func:`imported` finds them (parsed once per run)."""
    return {
        name: imported(name, ast.parse(path.read_text(encoding="utf-8")))
        for name, path in MODULES.items()
    }


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_the_graph_sees_imports() -> None:
    """The checks below would pass on an empty graph: make sure they get a real one."""
    graph = import_graph()
    assert "app.core.config" in graph["app"]
    assert "app.core.exceptions" in graph["app.core.errors"]
    assert "flask" in all_imports()["app.core.errors"]


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if within(name, layer)
        for target in sorted(targets)
        if not any(within(target, allowed) for allowed in ALLOWED[layer])
    ]
    assert upward == []


def test_only_the_factory_imports_the_features_and_nothing_imports_it() -> None:
    found = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if not within(name, FEATURES)
        for target in sorted(targets)
        if target == "app" or within(target, FEATURES)
    ]
    assert found == []


def test_services_do_not_import_flask() -> None:
    """So they run the same from a view, a command or a background job."""
    services = {
        name: targets for name, targets in all_imports().items() if within(name, "app.services")
    }
    assert services
    assert [name for name, targets in services.items() if "flask" in targets] == []


def test_no_module_imports_itself_in_a_circle() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        pytest.fail("import cycle: " + " -> ".join(cycle))
