"""The rooms of docs/architecture.md import only what they may: data flows one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# room -> top-level project packages it must not import (at run time; `if TYPE_CHECKING:` blocks are type hints)
FORBIDDEN = {
    "sim": {"motion", "controllers", "training", "app", "evaluation"},
    "motion": {"controllers", "training", "app", "evaluation"},
    "controllers": {"training", "app", "evaluation"},
    "training": {"app"},
    "tasks": {"training", "app", "evaluation"},
    "app": {"training", "evaluation"},
    "evaluation": {"training", "app"},
}


def runtime_imports(path: Path) -> set[str]:
    """Top-level names of the modules a file imports, outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_only_what_it_may(room):
    bad = {
        str(p.relative_to(ROOT)): sorted(runtime_imports(p) & FORBIDDEN[room])
        for p in sorted((ROOT / room).rglob("*.py"))
        if runtime_imports(p) & FORBIDDEN[room]
    }
    assert not bad, f"{room}/ imports what it must not: {bad}"
