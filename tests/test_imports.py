"""The import graph of src/digitnet, read with ast: no circles, and the leaf modules stay leaves.

Two graphs: module-level imports (what runs on import) and those plus the imports inside functions
(what a call may pull in). A circle in the second is hidden by function-level imports but is a
circle all the same: the modules cannot be understood, or tested, one below the other.
"""

import ast
from pathlib import Path

import pytest

import digitnet

SOURCE = Path(digitnet.__file__).parent
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in SOURCE.rglob("*.py")}


def _imports(tree: ast.AST, inside_functions: bool) -> list[tuple[str, list[str]]]:
    """(module, names) of every import statement, those inside functions only when asked."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and (inside_functions or not in_function):
                if isinstance(child, ast.Import):
                    found.extend((alias.name, []) for alias in child.names)
                elif child.module and child.level == 0:
                    found.append((child.module, [alias.name for alias in child.names]))
            visit(child, in_function or isinstance(child, FUNCTIONS))

    visit(tree, False)
    return found


def import_graph(inside_functions: bool) -> dict[str, set[str]]:
    """digitnet module -> the digitnet modules it imports (`from pkg import mod` counts as mod)."""
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for module, names in _imports(ast.parse(path.read_text()), inside_functions):
            submodules = {f"{module}.{item}" for item in names} & MODULES.keys()
            targets |= submodules or ({module} & MODULES.keys())
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of imports as a list of modules (first == last), or None."""
    state = {}  # module -> "open" while on the current path, "done" once every path from it is explored

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            if cycle:
                return cycle
    return None


def test_the_graph_sees_the_package():
    graph = import_graph(inside_functions=True)
    assert "digitnet.inference" in graph["digitnet.engine"]
    assert "digitnet.predict" in graph["digitnet.export"]  # a function-level import


@pytest.mark.parametrize("inside_functions", [False, True], ids=["module-level", "with-function-level"])
def test_no_import_cycle(inside_functions):
    assert find_cycle(import_graph(inside_functions)) is None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("leaf", ["digitnet.shapes", "digitnet.errors"])
def test_leaf_modules_import_nothing_heavy_and_nothing_of_digitnet(leaf):
    imported = {module for module, _ in _imports(ast.parse(MODULES[leaf].read_text()), True)}
    assert not {module.split(".")[0] for module in imported} & {"keras", "tensorflow", "digitnet"}


def test_inference_does_not_depend_on_the_exporter_or_the_engine():
    graph = import_graph(inside_functions=True)
    assert not graph["digitnet.inference"] & {"digitnet.export", "digitnet.engine", "digitnet.predict"}


def test_cluster_without_ray_says_how_to_install_it(monkeypatch):
    import sys

    from digitnet import cluster
    from digitnet.errors import DigitnetError

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(DigitnetError, match=r"pip install 'digitnet\[cluster\]'") as caught:
        cluster.import_ray()
    assert "\n" not in str(caught.value)
