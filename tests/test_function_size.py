"""Functions short enough to see whole: none over 60 lines (argparse declarations over 80 only)."""

import ast
from pathlib import Path

import digitnet

SOURCE = Path(digitnet.__file__).parent
LIMIT, ARGPARSE_LIMIT = 60, 80


def function_lengths(source: str) -> list[tuple[str, int, bool]]:
    """(name, lines, whether it declares argparse options) of every function in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_source_segment(source, node) or ""
            found.append((node.name, node.end_lineno - node.lineno + 1, "add_argument(" in text))
    return found


def test_no_function_is_too_long():
    too_long = [
        f"{path.relative_to(SOURCE)}: {name} ({lines} lines)"
        for path in sorted(SOURCE.rglob("*.py"))
        for name, lines, argparse in function_lengths(path.read_text())
        if lines > (ARGPARSE_LIMIT if argparse else LIMIT)
    ]
    assert too_long == []


def test_the_check_measures_a_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    assert function_lengths(f"def f():\n{body}\n") == [("f", 62, False)]
