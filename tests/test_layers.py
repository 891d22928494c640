"""The layers of docs/architecture.md: a room imports only rooms of lower layers, so data flows one way and the
import graph has no loop."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# bottom first; a room imports rooms of lower layers only, never one of its own layer or above. The table in
# docs/architecture.md states the same (test_the_architecture_doc_states_these_layers).
LAYERS: list[tuple[str, ...]] = [
    ("cli_common",),
    ("sim",),
    ("motion", "tasks"),
    ("controllers",),
    ("training", "evaluation", "app"),
    ("bench", "launch"),
]
LAYER = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}
# module loops inside a room that are known and harmless: make_backend picks the optional Warp backend at call
# time, and the Warp backend shares the CPU backend's contract (state fields, velocity limit)
KNOWN_MODULE_LOOPS = {"sim": [{"sim.backend", "sim.warp_backend"}]}


def room_files(room: str) -> list[Path]:
    return [ROOT / f"{room}.py"] if (ROOT / f"{room}.py").is_file() else sorted((ROOT / room).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """Full names of the modules a file imports anywhere (functions too), outside `if TYPE_CHECKING:` blocks
    (type hints); relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.update(f"{module}.{a.name}" for a in node.names)  # `from pkg import module` names a module
            names.add(module)
    return names


def room_graph() -> dict[str, set[str]]:
    """room -> the other rooms it imports."""
    return {
        room: {name.split(".")[0] for p in room_files(room) for name in runtime_imports(p)} & set(LAYER) - {room}
        for room in LAYER
    }


def module_graph(room: str) -> dict[str, set[str]]:
    """module -> the modules of the same room it imports."""
    modules = {module_name(p): p for p in room_files(room)}
    return {m: (runtime_imports(p) & set(modules)) - {m} for m, p in modules.items()}


def loops(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan): each is an import loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:  # v is the first of its component: the component is the stack down to v
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("room", sorted(LAYER))
def test_room_imports_only_lower_layers(room):
    bad = {}
    for p in room_files(room):
        wrong = {n.split(".")[0] for n in runtime_imports(p)} & set(LAYER) - {room}
        wrong = sorted(r for r in wrong if LAYER[r] >= LAYER[room])
        if wrong:
            bad[str(p.relative_to(ROOT))] = wrong
    assert not bad, f"{room} (layer {LAYER[room]}) imports rooms of its own layer or above: {bad}"


def test_the_runtime_never_imports_torch():
    bad = [str(p.relative_to(ROOT)) for p in room_files("controllers/runtime") if "torch" in
           {n.split(".")[0] for n in runtime_imports(p)}]  # fmt: skip
    assert not bad, f"the torch-free runtime imports torch: {bad}"


def test_the_package_graph_has_no_loop():
    graph = room_graph()
    assert graph["tasks"] == {"sim"} and "tasks" in graph["controllers"]  # the graph is read, not empty
    assert not loops(graph), f"package import loops: {loops(graph)}"


@pytest.mark.parametrize("room", [r for r in sorted(LAYER) if (ROOT / r).is_dir()])
def test_the_module_graph_inside_a_room_has_no_loop(room):
    found = [c for c in loops(module_graph(room)) if c not in KNOWN_MODULE_LOOPS.get(room, [])]
    assert not found, f"module import loops inside {room}/: {found}"


def test_loops_are_found():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert loops({"a": {"b"}, "b": set()}) == []
    # the loop this test was written against: training.cli and training.hlc_cli importing each other
    assert loops({"training.cli": {"training.hlc_cli"}, "training.hlc_cli": {"training.cli"}})


def test_the_architecture_doc_states_these_layers():
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", text, flags=re.M)
    doc: dict[int, set[str]] = {}
    for layer, rooms in rows:
        doc.setdefault(int(layer), set()).update(re.findall(r"`([\w.]+?)(?:\.py|/)`", rooms))
    assert doc == {i: set(rooms) for i, rooms in enumerate(LAYERS)}, "docs/architecture.md's layer table differs"
