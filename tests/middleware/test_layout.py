"""The folders are the architecture: wings, and imports that run one way between them."""

from __future__ import annotations

import ast
from pathlib import Path

import middleware

PACKAGE = Path(middleware.__file__).parent
# The ground floor, which every wing may use and which uses none of them.
GROUND = {"__init__", "__main__", "_sdk", "context", "_runtime"}
# A wing may import a wing of a lower rank only, and only through its __init__.py.
RANK = {
    "config": 1,
    "scrub": 2,
    "capture": 3,
    "logs": 3,
    "delivery": 3,
    "request": 4,
    "jobs": 4,
    "startup": 5,
}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, str]]:
    """The `middleware` modules `path` imports when it runs (not those for type checking).

    Each as (the module its import statement names, the module it gets).
    """
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("middleware"):
            module = node.module or ""
            for alias in node.names:
                # `from middleware.capture import storm` imports the module storm.
                child = f"{module}.{alias.name}"
                found.append((module, child if _path(child) else module))
        elif isinstance(node, ast.Import):
            found += [(a.name, a.name) for a in node.names if a.name.startswith("middleware")]
    return found


def _path(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _graph() -> dict[str, list[tuple[str, str]]]:
    return {_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _wing(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_every_module_is_in_a_wing_or_on_the_ground_floor() -> None:
    stray = [path.name for path in PACKAGE.glob("*.py") if path.stem not in GROUND]
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert stray == []
    assert folders <= set(RANK)


def test_the_ground_floor_imports_no_wing() -> None:
    graph = _graph()
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.split(".")[-1] in GROUND and module != "middleware"
        for _, target in targets
        if _wing(target)
    ]
    assert wrong == []


def test_wings_import_lower_wings_only_through_their_init() -> None:
    wrong = []
    for module, targets in _graph().items():
        wing = _wing(module)
        if wing is None:
            continue
        for via, target in targets:
            other = _wing(target)
            if other is None or other == wing:
                continue
            if RANK[other] >= RANK[wing]:
                wrong.append(f"{module} -> {target} (against the direction)")
            elif via != f"middleware.{other}":
                wrong.append(f"{module} -> {via} (not through middleware.{other})")
    assert wrong == []


def test_there_is_no_import_circle() -> None:
    graph = _graph()
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for _, target in graph.get(module, []):
            visit(target, [*path, module])
        done.add(module)

    done: set[str] = set()
    for module in graph:
        visit(module, [])
    assert circles == []


def test_the_rules_see_a_wrong_arrow() -> None:
    # The checks above pass on an empty graph too: make sure they read real imports.
    graph = _graph()
    assert ("middleware.capture", "middleware.capture") in graph["middleware.request.middleware"]
    assert ("middleware.capture", "middleware.capture.storm") in graph["middleware.startup.sdk"]
    assert _wing("middleware.scrub.walker") == "scrub"
