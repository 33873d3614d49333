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
    assert "digitnet.training.inference" in graph["digitnet.reading.engine"]
    assert "digitnet.reading.predict" in graph["digitnet.jobs.export"]  # a function-level import


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
    assert not graph["digitnet.training.inference"] & {
        "digitnet.jobs.export",
        "digitnet.reading.engine",
        "digitnet.reading.predict",
    }


def test_cluster_without_ray_says_how_to_install_it(monkeypatch):
    import sys

    from digitnet.errors import DigitnetError
    from digitnet.jobs import cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    with pytest.raises(DigitnetError, match=r"pip install 'digitnet\[cluster\]'") as caught:
        cluster.import_ray()
    assert "\n" not in str(caught.value)


# The layers, lowest first (../shared/DESIGN.md): a module may import its own layer and those its
# layer lists, never upwards or sideways. The CLI and the package's API sit above everything.
BASICS = {"digitnet.errors", "digitnet.shapes", "digitnet.layout", "digitnet.util", "digitnet.default_model"}
ALLOWED = {
    "basics": {"basics"},
    "data": {"basics", "data"},
    "reading": {"basics", "data", "reading"},
    "serve": {"basics", "data", "reading", "serve"},
    "training": {"basics", "data", "training"},
    "jobs": {"basics", "data", "reading", "training", "jobs"},
    "top": {"basics", "data", "reading", "serve", "training", "jobs", "top"},
}
# Crossings the instant-reader work removes (reading then runs LiteRT files only); none may be added.
KNOWN_CROSSINGS = {
    ("digitnet.reading.engine", "digitnet.training.inference"),
    ("digitnet.reading.predict", "digitnet.training.inference"),
    ("digitnet.reading.detector", "digitnet.training.inference"),
}


def layer_of(module: str) -> str:
    if module in {
        "digitnet",
        "digitnet.cli",
        "digitnet.__main__",
        "digitnet.serve.__main__",
    } or module.startswith("digitnet.commands"):
        return "top"
    if any(module == basic or module.startswith(basic + ".") for basic in BASICS):
        return "basics"
    return module.split(".")[1]


def layer_violations(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) not in ALLOWED[layer_of(module)]
    }


def test_every_module_belongs_to_a_layer():
    assert {layer_of(module) for module in MODULES} <= ALLOWED.keys()


def test_imports_go_one_way_between_the_layers():
    assert layer_violations(import_graph(inside_functions=True)) <= KNOWN_CROSSINGS


def test_the_layer_rule_catches_an_upward_import():
    graph = {
        "digitnet.reading.predict": {"digitnet.jobs.finetune"},
        "digitnet.data.mnist": {"digitnet.errors"},
    }
    assert layer_violations(graph) == {("digitnet.reading.predict", "digitnet.jobs.finetune")}


@pytest.mark.parametrize("layer", ["data", "reading", "serve"])
def test_the_reading_side_imports_no_tensorflow_at_module_level(layer):
    for name, path in MODULES.items():
        if layer_of(name) == layer:
            imported = {module.split(".")[0] for module, _ in _imports(ast.parse(path.read_text()), False)}
            assert not imported & {"tensorflow", "keras"}, name
