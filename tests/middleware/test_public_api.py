"""The package's public names: what booty (and any app) imports from `middleware`."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import middleware

ROOT = Path(__file__).resolve().parents[2]


def test_version_is_the_distributions() -> None:
    assert middleware.__version__ == version("asgi-sentry-scope")


def test_version_falls_back_when_the_distribution_is_not_installed() -> None:
    # A checkout on sys.path without the distribution's metadata (vendored, or never installed).
    code = (
        "import importlib.metadata as m\n"
        "def version(name):\n"
        "    raise m.PackageNotFoundError(name)\n"
        "m.version = version\n"
        "import middleware\n"
        "print(middleware.__version__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "0+unknown"


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
