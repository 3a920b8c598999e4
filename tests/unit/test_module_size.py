"""No giant rooms in the shipped package (issue 24): no module in ``lambdas/`` over 600 lines
and no function over 60, so each part stays small enough to say what it decides. There are no
exceptions: split along the lines the code already follows."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lambdas"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60  # from the ``def`` line to the last line of its body


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _long_functions(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno
            if length > MAX_FUNCTION_LINES:
                found[f"{_name(path)}:{node.name}"] = length
    return found


def test_no_module_over_600_lines() -> None:
    too_long = {_name(p): n for p in _modules() if (n := _line_count(p)) > MAX_MODULE_LINES}
    assert too_long == {}, "split these modules along the lines they already follow"


def test_no_function_over_60_lines() -> None:
    too_long = {name: n for p in _modules() for name, n in _long_functions(p).items()}
    assert too_long == {}, "extract what each part decides into a named function"
