"""The package's public names: what booty (and any app) imports from `middleware`."""

from __future__ import annotations

import ast
from importlib.metadata import version
from pathlib import Path

import middleware

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_the_distributions() -> None:
    assert middleware.__version__ == version("booty")


def test_every_exported_name_exists() -> None:
    missing = [name for name in middleware.__all__ if not hasattr(middleware, name)]
    assert not missing


def test_booty_imports_only_public_names() -> None:
    private: list[str] = []
    for path in sorted((ROOT / "booty").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("middleware"):
                private += [
                    f"{path.name}: {node.module}.{alias.name}"
                    for alias in node.names
                    if node.module != "middleware" or alias.name not in middleware.__all__
                ]
    assert not private
