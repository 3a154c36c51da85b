"""The size measures of issue 17, on the code: modules over 400 lines, functions over 60 lines,
classes with more than 30 methods (``python scripts/measures.py [PATH ...]``, default: myonion
and gui). Prints every module's lines with ``--all``; exits 1 if a measure is broken."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE, MAX_FUNCTION, MAX_METHODS = 400, 60, 30


def measure(path: Path) -> tuple[int, list[str]]:
    """The module's lines and what in it breaks a measure."""
    text = path.read_text()
    lines = len(text.splitlines())
    broken = [f"{path}: {lines} lines"] if lines > MAX_MODULE else []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION:
                broken.append(f"{path}:{node.lineno}: {node.name} has {length} lines")
        elif isinstance(node, ast.ClassDef):
            methods = [n for n in node.body if isinstance(n, ast.FunctionDef |
                                                          ast.AsyncFunctionDef)]
            if len(methods) > MAX_METHODS:
                broken.append(f"{path}:{node.lineno}: {node.name} has {len(methods)} methods")
    return lines, broken


def main(argv: list[str]) -> int:
    show_all = "--all" in argv
    roots = [Path(a) for a in argv if a != "--all"] or [Path("myonion"), Path("gui")]
    broken: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            lines, found = measure(path)
            broken += found
            if show_all:
                print(f"{lines:6d} {path}")
    print("\n".join(broken) or "every measure is kept")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
